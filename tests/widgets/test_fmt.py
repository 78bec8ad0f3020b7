"""Text formatters of the panes."""

from __future__ import annotations

from widgets.fmt import bar, clip, duration, matches, mb, money, num, pct, qty, stamp


def test_numbers_and_money() -> None:
    assert num(None) == "-" and num(1.23456, 3) == "1.235"
    assert pct(0.705) == "70%" and pct(None) == "-"
    assert money("1234.5") == "1,234.50" and money(None) == "-" and money("abc") == "abc"
    assert mb(512) == "512M" and mb(2048) == "2.0G"


def test_duration_and_time() -> None:
    assert [duration(s) for s in (5, 65, 3 * 3600 + 120, 2 * 86400 + 3600)] == [
        "5s", "1m05s", "3h02m", "2d01h"]
    assert duration(None) == "-" and duration(-1) == "-"
    assert stamp(1_767_225_600.0) == "2026-01-01 00:00"


def test_bar_clip_and_filter() -> None:
    assert bar(0.5, 10) == "█████░░░░░" and bar(2.0, 4) == "████" and bar(None, 3) == "░░░"
    assert clip("a\nlong line", 6) == "a lon…" and clip(None, 5) == ""
    assert matches("", "x") and matches("fail oom", "FAILED", "CudaOOM")
    assert not matches("fail gpu", "FAILED", "cpu")


def test_qty_shows_what_it_is_given_without_trailing_zeros() -> None:
    # the console already put it on the product's increment: never rounded again here
    assert qty("0.005100") == "0.0051" and qty("1520.000") == "1520" and qty("0.012345678") == \
        "0.012345678"
    assert qty(None) == "-" and qty("") == "-" and qty("-0.000") == "0" and qty("x") == "x"
