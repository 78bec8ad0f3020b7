"""Decimal text for people and scripts: money to cents, prices and quantities to increments.

The store keeps exact Decimal text (often with float noise from a simulator, e.g.
"983.1577401522001"); what `status --json`, reports and tables show is rounded here, once.
Values stay Decimal text (strings), never floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation

CENT = Decimal("0.01")
# Quantities go on each product's base increment, recorded per trader at its start
# (store.increments); where none is recorded, on this fallback: 8 decimals, the finest base
# increment Cappuccino trades (Coinbase's and the simulator's).
QTY_INCREMENT = Decimal("0.00000001")
SMALL_PRICE_DIGITS = 6  # significant digits for prices below 1 (cents would erase them)


def _dec(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def _unsigned_zero(d: Decimal) -> Decimal:
    return abs(d) if d == 0 else d  # "-0.00" reads like a loss


def money(value: object) -> str | None:
    """An amount of quote currency to the cent: "983.1577401522001" -> "983.16"."""
    d = _dec(value)
    return None if d is None else str(_unsigned_zero(d.quantize(CENT, rounding=ROUND_HALF_EVEN)))


def price(value: object) -> str | None:
    """A price: to the cent from 1 up; below 1, to SMALL_PRICE_DIGITS significant digits."""
    d = _dec(value)
    if d is None:
        return None
    if abs(d) >= 1 or d == 0:
        return str(_unsigned_zero(d.quantize(CENT, rounding=ROUND_HALF_EVEN)))
    step = Decimal(1).scaleb(d.adjusted() - SMALL_PRICE_DIGITS + 1)
    return format(d.quantize(step, rounding=ROUND_HALF_EVEN), "f")


def quantity(value: object, increment: object = None) -> str | None:
    """A quantity on the product's increment (QTY_INCREMENT when unknown), no trailing 0s.

    Rounded toward zero: a holding shown is never more than can be sold (0.123456789 on
    0.0001 shows 0.1234). Increments need not be powers of ten (0.0005 works)."""
    d = _dec(value)
    if d is None:
        return None
    inc = _dec(increment)
    inc = inc if inc is not None and inc > 0 else QTY_INCREMENT
    q = (d / inc).to_integral_value(rounding=ROUND_DOWN) * inc
    text = format(q.normalize(), "f")
    return "0" if text in ("-0", "") else text


def increment_of(increments: Mapping[tuple[str, str], str], trader: str,
                 ticker: str) -> str | None:
    """The recorded base increment of (trader, ticker), or None when unknown."""
    inc = _dec(increments.get((trader, ticker)))
    return format(inc, "f") if inc is not None and inc > 0 else None
