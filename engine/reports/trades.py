"""Round trips from fills: entry, exit, quantity, PnL net of fees, maker/taker, duration.

Fills are matched first-in first-out per (trader, ticker): a SELL closes the oldest open
BUY lots (Cappuccino's venues are spot: a SELL never opens a short). A round trip is one matched piece of a
lot, so a buy filled in three pieces and sold at once makes three round trips. Fees are
charged pro rata: the entry fill's fee per unit and the exit fill's fee per unit, times the
quantity matched. Exact Decimal arithmetic throughout; pure (no store, no clock).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


class FillLike(Protocol):
    @property
    def trader(self) -> str: ...
    @property
    def ticker(self) -> str: ...
    @property
    def side(self) -> str: ...
    @property
    def qty(self) -> str: ...
    @property
    def price(self) -> str: ...
    @property
    def fee(self) -> str: ...
    @property
    def liquidity(self) -> str: ...
    @property
    def at(self) -> float: ...



@dataclass(frozen=True)
class PlainFill:
    """A fill as round_trips reads one (a FillLike), for fills that are not store rows:
    the backtest's, a test's."""
    trader: str
    ticker: str
    side: str       # BUY | SELL
    qty: str
    price: str
    fee: str
    liquidity: str  # MAKER | TAKER
    at: float

@dataclass(frozen=True)
class RoundTrip:
    trader: str
    ticker: str
    entry_at: float
    exit_at: float
    qty: Decimal
    entry_price: Decimal
    exit_price: Decimal
    fees: Decimal           # entry and exit fees on this quantity
    pnl: Decimal            # net of fees
    entry_liquidity: str    # MAKER | TAKER
    exit_liquidity: str

    @property
    def duration_s(self) -> float:
        return self.exit_at - self.entry_at


@dataclass
class _Lot:
    qty: Decimal
    price: Decimal
    fee_per_unit: Decimal
    liquidity: str
    at: float


@dataclass(frozen=True)
class Matched:
    trips: tuple[RoundTrip, ...]
    unmatched_exits: int  # sells with no open lot (bought before the fills read)


def round_trips(fills: Iterable[FillLike]) -> Matched:
    """Round trips of fills given oldest first, in the order their exits happened."""
    books: dict[tuple[str, str], deque[_Lot]] = {}
    trips: list[RoundTrip] = []
    orphans = 0
    for f in fills:
        qty, price, fee = Decimal(f.qty), Decimal(f.price), Decimal(f.fee)
        if qty <= 0:
            continue
        lots = books.setdefault((f.trader, f.ticker), deque())
        if f.side.upper() == "BUY":
            lots.append(_Lot(qty, price, fee / qty, f.liquidity, f.at))
            continue
        fee_unit, left = fee / qty, qty
        while left > 0 and lots:
            lot = lots[0]
            m = min(lot.qty, left)
            fees = (lot.fee_per_unit + fee_unit) * m
            trips.append(RoundTrip(
                f.trader, f.ticker, lot.at, f.at, m, lot.price, price, fees,
                (price - lot.price) * m - fees, lot.liquidity, f.liquidity))
            lot.qty -= m
            left -= m
            if lot.qty == 0:
                lots.popleft()
        if left > 0:
            orphans += 1
    return Matched(tuple(trips), orphans)

