"""Decimal text rounded for display: cents, price digits, quantity increments."""

from __future__ import annotations

from engine.money import money, price, quantity


def test_money_prices_and_quantities() -> None:
    assert money("983.1577401522001") == "983.16"
    assert money("-0.004") == "0.00" and money("-0.006") == "-0.01"
    assert money(12.5) == "12.50" and money(None) is None and money("nan") is None
    assert money("garbage") is None
    assert price("64000") == "64000.00" and price("0.000012345678") == "0.0000123457"
    assert quantity("0.0100000000001") == "0.01" and quantity("3") == "3"
    assert quantity("0.123456", "0.001") == "0.123" and quantity("-0.000000001") == "0"
