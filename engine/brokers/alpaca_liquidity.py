"""Maker or taker for an Alpaca fill, which Alpaca does not say.

Neither Alpaca's order nor its FILL activity carries a liquidity flag, and there is no
post-only flag: a limit whose price the market crossed between our post-only check and the
order's arrival fills at once, as a taker, at the quote it met. That is told from Alpaca's own
records, so a restarted trader books it the same: a fill priced better than its limit never
rested (a resting order fills at its own limit). A cross exactly at the limit shows only in
the placement answer (already filled), which the broker remembers while it runs; one it
missed (a crash between the post and the answer) stays maker, and the account audit names
the difference (engine.trading.account).
"""

from __future__ import annotations

from decimal import Decimal

from engine.brokers.base import Json, dec


def is_taker(order: Json, price: Decimal, cum_qty: Decimal,
             filled_on_arrival: Decimal = Decimal(0)) -> bool:
    """Whether the fill of `order` at `price` that brought its filled quantity to `cum_qty`
    took liquidity. `filled_on_arrival`: what the placement answer reported filled."""
    if str(order.get("type")) != "limit" or not order.get("limit_price"):
        return True
    limit = dec(order["limit_price"])
    buy = str(order.get("side")).lower() == "buy"
    if price < limit if buy else price > limit:
        return True
    return 0 < cum_qty <= filled_on_arrival
