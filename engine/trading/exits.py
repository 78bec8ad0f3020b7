"""Operator exits (force-exit / flatten): `cappuccino exit`, the console's f/F.

The request is a store row (store.trading.set_exit_request) the trader reads every bar and
poll. While it stands the risk engine is REDUCING (no buys) and, each bar, the policy's
intents for the requested tickers are replaced by one SELL of the whole holding at the
ask, through the same risk check (holding, size, increments, max order notional: a large
position takes several bars) and the same maker-first executor (taker after the re-price
deadline) as any order. Once every requested ticker is flat the request is cleared and the
trader goes back to ACTIVE (the state change is notified like any other).

Flat means nothing left that the venue would take: a remainder below the product's minimum
size or order value (dust from a partial fill, a fee taken in the coin) cannot be sold, so
it ends the exit with an alert naming it instead of holding the trader REDUCING forever. A
sell never asks for more than the account holds of the coin (as the policy's sells).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from engine.brokers.base import Product
from engine.trading.risk import ProposedOrder, round_down
from store import trading as st
from store.alerts import insert_alert

log = logging.getLogger("cappuccino.trader")

Intent = tuple[str, str, Decimal, Decimal]  # (ticker, side, qty, limit price)


def sellable(qty: Decimal, price: Decimal, product: Product) -> bool:
    """Whether the venue would take a sell of `qty` at `price` (its increments and minimums)."""
    q = round_down(qty, product.base_increment)
    return q > 0 and q >= product.base_min_size and q * price >= product.quote_min_size


def exit_intents(trader: Any, req: st.ExitRequest, intents: list[Intent]) -> list[Intent]:
    """The bar's intents with the requested tickers sold to flat (or the request cleared)."""
    tickers = [t for t in trader.s.tickers if req.tickers is None or t in req.tickers]
    book = {t: trader.ledger.lot(t).qty for t in tickers}
    # Never more than the account holds of the coin (a fee taken in it, a sale by hand).
    held = {t: min(q, trader.account_qty.get(t, q)) for t, q in book.items()}
    quotes = trader.broker.quotes([t for t, q in held.items() if q > 0]) if any(
        q > 0 for q in held.values()) else {}
    products = {t: trader.broker.product(t) for t, q in held.items() if q > 0}
    to_sell = {t: q for t, q in held.items()
               if q > 0 and sellable(q, quotes[t].ask, products[t])}
    if not to_sell:
        st.clear_exit_request(trader.store, trader.name)
        left = [f"{t} {format(q.normalize(), 'f')}" for t, q in book.items() if q > 0]
        log.warning("%s: operator exit done: %s flat", trader.name,
                    ", ".join(tickers) or "every position")
        if left:
            insert_alert(trader.store, trader.name, "WARNING",
                         f"operator exit done; left unsold, below what the venue takes "
                         f"(minimum size or order value) or not on the account: "
                         f"{', '.join(left)}", trader.clock.now())
        return intents
    keep = [i for i in intents if i[0] not in held]
    sells: list[Intent] = []
    for ticker, qty in to_sell.items():
        price = quotes[ticker].ask
        d = trader.risk.check(ProposedOrder(ticker, "SELL", qty, price), equity=trader.equity,
                              position_qty=qty, pending_buy_qty=Decimal(0),
                              cash_available=trader.available_cash,
                              product=products[ticker])
        if d.approved:
            sells.append((ticker, "SELL", d.qty, price))
        else:
            log.warning("%s: operator exit of %s refused by risk: %s", trader.name, ticker,
                        d.reason)
    return sells + keep  # sells first, as the trader orders them
