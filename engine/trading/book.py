"""A trader's book: what it owns on an account it may share with other traders and the
operator.

book cash = capital - what its own buys cost (fees included) + what its own sells returned
(fees deducted); positions = its own fills (average cost, realised PnL: engine.trading.ledger).
equity = book cash + positions marked at the last prices.

The book is a pure function of the capital and the trader's fills in the store, so a restart
rebuilds exactly the book it had; nothing the account holds beyond it (deposits, other
traders' positions, orders placed by hand) ever enters it. `unattributed` says what the
account holds that no trader's book explains: reported, never adopted or closed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from engine.brokers.base import Balance, OrderState
from engine.trading.ledger import Ledger
from store import trading as st

ZERO = Decimal(0)


@dataclass
class Book:
    capital: Decimal
    cash: Decimal
    ledger: Ledger = field(default_factory=Ledger)

    @classmethod
    def from_fills(cls, capital: Decimal, fills: Iterable[st.FillRow]) -> Book:
        book = cls(capital, capital)
        for f in fills:
            book.apply(f.ticker, f.side, Decimal(f.qty), Decimal(f.price), Decimal(f.fee))
        return book

    def apply(self, ticker: str, side: str, qty: Decimal, price: Decimal,
              fee: Decimal) -> Decimal | None:
        """Book one own fill; returns the realised PnL of a sell (None for a buy)."""
        if side == "BUY":
            self.cash -= qty * price + fee
        else:
            self.cash += qty * price - fee
        return self.ledger.apply(ticker, side, qty, price, fee)

    def qty(self, ticker: str) -> Decimal:
        return self.ledger.lot(ticker).qty

    def equity(self, prices: Mapping[str, Decimal]) -> Decimal:
        """Cash plus positions at `prices` (a position without a price at its cost)."""
        total = self.cash
        for t, lot in self.ledger.lots.items():
            if lot.qty > 0:
                total += lot.qty * prices.get(t, lot.avg_price)
        return total


def fill_qty(fills: Iterable[st.FillRow]) -> dict[str, Decimal]:
    """Net quantity per ticker that these fills built."""
    out: dict[str, Decimal] = {}
    for f in fills:
        q = Decimal(f.qty)
        out[f.ticker] = out.get(f.ticker, ZERO) + (q if f.side == "BUY" else -q)
    return out


def unattributed(balances: Mapping[str, Balance], tickers: Iterable[str],
                 books_qty: Mapping[str, Decimal], foreign_orders: Iterable[OrderState],
                 dust: Decimal = Decimal("1e-8")) -> list[str]:
    """Lines naming what the account holds beyond every trader's book, and open orders that no
    trader placed. Empty when the account is fully explained."""
    out = []
    for t in tickers:
        base = t.split("-")[0]
        b = balances.get(base)
        have = b.total if b else ZERO
        extra = have - books_qty.get(t, ZERO)
        if extra > dust:
            out.append(f"{base} {format(extra.normalize(), 'f')} held beyond the traders' books")
        elif extra < -dust:
            out.append(f"{base}: the books hold {format(-extra.normalize(), 'f')} more than "
                       "the account")
    for o in foreign_orders:
        price = f" at {o.limit_price}" if o.limit_price is not None else ""
        out.append(f"open order not placed by a trader: {o.side} {o.qty} {o.ticker}{price} "
                   f"(id {o.broker_order_id})")
    return out
