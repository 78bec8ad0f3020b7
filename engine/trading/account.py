"""The account a trader shares: who else trades on it, whether its capital fits, and what on
it no trader placed.

Several traders of one store on the same live venue (alpaca, coinbase) share one account (one
key set per config). Each owns only its book (engine.trading.book). A trader counts as active
on the account when its row was written within ACTIVE_S (or three of its own bars); a sim
trader has an exchange of its own, so none of this applies to it.
"""

from __future__ import annotations

import json
from decimal import Decimal

from engine.brokers.base import Balance, OrderState
from engine.trading.book import Book, fill_qty, unattributed
from store import trading as st
from store.db import Store

ACTIVE_S = 900.0
QUOTE_CCY = "USD"


class AllotmentError(ValueError):
    """The trader's capital does not fit what the account has left for it."""


def shares_account(broker: str) -> bool:
    return broker != "sim"


def _peers(store: Store, broker: str, name: str, now: float,
           period: float) -> list[st.TraderRow]:
    return st.venue_peers(store, broker, name, now - max(ACTIVE_S, 3 * period))


def check_allotment(store: Store, broker: str, name: str, book: Book,
                    balances: dict[str, Balance], now: float, period: float) -> None:
    """Raise AllotmentError when the unspent cash of every active trader's book on this
    account, this one's included, exceeds the account's quote balance."""
    if not shares_account(broker):
        return
    peers = _peers(store, broker, name, now, period)
    others = sum((Book.from_fills(Decimal(p.capital), st.list_fills(store, p.name)).cash
                  for p in peers), Decimal(0))
    usd = balances.get(QUOTE_CCY)
    have = usd.total if usd else Decimal(0)
    if book.cash + others > have:
        who = f" + {len(peers)} other trader(s) {others:.2f}" if peers else ""
        raise AllotmentError(
            f"trader {name} would overdraw the {broker} account: its cash {book.cash:.2f}"
            f"{who} > USD {have:.2f} on the account (lower --capital or stop a trader)")


def audit(store: Store, broker: str, name: str, tickers: tuple[str, ...],
          balances: dict[str, Balance], open_orders: list[OrderState], now: float,
          period: float) -> list[str]:
    """Lines naming what the account holds or has open that no active trader placed."""
    traders = [name] + [p.name for p in _peers(store, broker, name, now, period)]
    books: dict[str, Decimal] = {}
    for t in traders:
        for ticker, q in fill_qty(st.list_fills(store, t)).items():
            books[ticker] = books.get(ticker, Decimal(0)) + q
    known = st.known_order_ids(store, [o.client_order_id for o in open_orders
                                       if o.client_order_id])
    foreign = [o for o in open_orders if o.client_order_id not in known]
    return unattributed(balances, tickers, books, foreign)


def as_json(lines: list[str]) -> str | None:
    return json.dumps(lines) if lines else None
