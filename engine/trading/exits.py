"""Operator exits (force-exit / flatten): `cappuccino exit`, the console's f/F.

The request is a store row (store.trading.set_exit_request) the trader reads every bar and
poll. While it stands the risk engine is REDUCING (no buys) and, each bar, the policy's
intents for the requested tickers are replaced by one SELL of the whole holding at the
ask, through the same risk check (holding, size, increments, max order notional: a large
position takes several bars) and the same maker-first executor (taker after the re-price
deadline) as any order. Once every requested ticker is flat the request is cleared and the
trader goes back to ACTIVE (the state change is notified like any other).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from engine.trading.risk import ProposedOrder
from store import trading as st

log = logging.getLogger("cappuccino.trader")

Intent = tuple[str, str, Decimal, Decimal]  # (ticker, side, qty, limit price)


def exit_intents(trader: Any, req: st.ExitRequest, intents: list[Intent]) -> list[Intent]:
    """The bar's intents with the requested tickers sold to flat (or the request cleared)."""
    tickers = [t for t in trader.s.tickers if req.tickers is None or t in req.tickers]
    held = {t: trader.ledger.lot(t).qty for t in tickers}
    if all(q <= 0 for q in held.values()):
        st.clear_exit_request(trader.store, trader.name)
        log.warning("%s: operator exit done: %s flat", trader.name,
                    ", ".join(tickers) or "every position")
        return intents
    keep = [i for i in intents if i[0] not in held]
    quotes = trader.broker.quotes([t for t, q in held.items() if q > 0])
    sells: list[Intent] = []
    for ticker, qty in held.items():
        if qty <= 0:
            continue
        price = quotes[ticker].ask
        d = trader.risk.check(ProposedOrder(ticker, "SELL", qty, price), equity=trader.equity,
                              position_qty=qty, pending_buy_qty=Decimal(0),
                              cash_available=trader.available_cash,
                              product=trader.broker.product(ticker))
        if d.approved:
            sells.append((ticker, "SELL", d.qty, price))
        else:
            log.warning("%s: operator exit of %s refused by risk: %s", trader.name, ticker,
                        d.reason)
    return sells + keep  # sells first, as the trader orders them
