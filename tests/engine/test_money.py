"""Decimal text rounded for display: cents, price digits, quantity increments."""

from __future__ import annotations

from engine.money import increment_of, money, price, quantity


def test_money_prices_and_quantities() -> None:
    assert money("983.1577401522001") == "983.16"
    assert money("-0.004") == "0.00" and money("-0.006") == "-0.01"
    assert money(12.5) == "12.50" and money(None) is None and money("nan") is None
    assert money("garbage") is None
    assert price("64000") == "64000.00" and price("0.000012345678") == "0.0000123457"
    assert quantity("0.0100000000001") == "0.01" and quantity("3") == "3"
    assert quantity("0.123456", "0.001") == "0.123" and quantity("-0.000000001") == "0"


def test_quantities_round_down_onto_the_increment() -> None:
    # toward zero: a holding is never shown larger than it is (half-even would say 0.1235 / 1)
    assert quantity("0.123456789", "0.0001") == "0.1234"
    assert quantity("0.999999999") == "0.99999999"
    assert quantity("-0.123456789", "0.0001") == "-0.1234"
    # steps that are not powers of ten, and increments given in exponent form
    assert quantity("0.00149", "0.0005") == "0.001" and quantity("7", "2.5") == "5"
    assert quantity("0.123456789", "1E-3") == "0.123"
    # an unknown, zero, negative or garbage increment falls back to 8 decimals
    for bad in (None, "", "0", "-1", "garbage"):
        assert quantity("0.123456789", bad) == "0.12345678", bad
    incs = {("a", "BTC-USD"): "1E-8", ("a", "ETH-USD"): "0", ("a", "X-USD"): "junk"}
    assert increment_of(incs, "a", "BTC-USD") == "0.00000001"
    assert increment_of(incs, "a", "ETH-USD") is None and increment_of(incs, "a", "X-USD") is None
    assert increment_of(incs, "b", "BTC-USD") is None
