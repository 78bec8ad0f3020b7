"""The broker interface and the values that cross it.

Tickers are canonical `BASE-QUOTE` (e.g. BTC-USD); each broker maps to its own symbols.
Quantities and prices are Decimal. Times are UTC unix seconds. There are no dry-run
branches inside a broker: paper trading is a paper broker, simulation is SimBroker.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

Side = Literal["BUY", "SELL"]
Liquidity = Literal["MAKER", "TAKER"]
# NEW/OPEN: resting. PARTIAL: partly filled, still open. Terminal: FILLED, CANCELLED,
# REJECTED, EXPIRED.
OrderStatus = Literal["NEW", "OPEN", "PARTIAL", "FILLED", "CANCELLED", "REJECTED", "EXPIRED"]
TERMINAL = ("FILLED", "CANCELLED", "REJECTED", "EXPIRED")


def as_side(value: object) -> Side:
    """'BUY' or 'SELL' (any case) as a Side; ValueError for anything else."""
    side = str(value).upper()
    if side == "BUY":
        return "BUY"
    if side == "SELL":
        return "SELL"
    raise ValueError(f"not an order side: {value!r}")


# A decoded JSON object from an exchange: its values are checked where they are read.
Json: TypeAlias = dict[str, Any]


class BrokerError(Exception):
    """A broker call failed. `retryable` says whether the same call may succeed later
    (429, 5xx, timeout, connection reset, malformed response)."""

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class OrderRejected(BrokerError):
    """The broker refused an order (size, funds, post-only would cross, product disabled)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message, retryable=False)
        self.reason = reason  # size | funds | post_only | disabled | other


@dataclass(frozen=True)
class Product:
    ticker: str
    base_increment: Decimal
    quote_increment: Decimal
    base_min_size: Decimal
    quote_min_size: Decimal
    trading_disabled: bool = False
    post_only: bool = False      # the venue accepts only post-only orders right now
    cancel_only: bool = False


@dataclass(frozen=True)
class Quote:
    ticker: str
    bid: Decimal
    ask: Decimal
    at: float


@dataclass(frozen=True)
class Bar:
    ticker: str
    start: float                 # bar open time; the bar closes at start + timeframe
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True)
class OrderRequest:
    client_order_id: str         # deterministic: trader, bar time, ticker, attempt
    ticker: str
    side: Side
    qty: Decimal
    limit_price: Decimal | None  # None: market order (taker)
    post_only: bool = False


@dataclass(frozen=True)
class OrderState:
    client_order_id: str
    broker_order_id: str
    ticker: str
    side: Side
    qty: Decimal
    limit_price: Decimal | None
    status: OrderStatus
    filled_qty: Decimal = Decimal(0)
    avg_price: Decimal | None = None
    fees: Decimal = Decimal(0)
    created_at: float = 0.0
    reason: str = ""

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL


@dataclass(frozen=True)
class Fill:
    fill_id: str
    client_order_id: str
    broker_order_id: str
    ticker: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    liquidity: Liquidity
    at: float


@dataclass(frozen=True)
class Balance:
    currency: str
    available: Decimal
    hold: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return self.available + self.hold


@dataclass(frozen=True)
class FeeTier:
    name: str
    maker_rate: Decimal
    taker_rate: Decimal
    volume_30d: Decimal = Decimal(0)


@runtime_checkable
class Broker(Protocol):
    name: str

    def now(self) -> float:
        """The broker's clock (server time; SimBroker: the replay clock)."""
        ...

    def product(self, ticker: str) -> Product: ...

    def quotes(self, tickers: list[str]) -> dict[str, Quote]: ...

    def bars(self, ticker: str, start: float, end: float, timeframe: str) -> list[Bar]:
        """Closed bars with start in [start, end), oldest first."""
        ...

    def balances(self) -> dict[str, Balance]: ...

    def fee_tier(self) -> FeeTier: ...

    def submit(self, req: OrderRequest) -> OrderState:
        """Place an order. Idempotent on client_order_id: a repeat returns the existing order."""
        ...

    def cancel(self, client_order_ids: list[str]) -> None: ...

    def get_order(self, client_order_id: str) -> OrderState | None: ...

    def open_orders(self) -> list[OrderState]: ...

    def fills(self, since: float) -> list[Fill]:
        """Fills at or after `since`, oldest first."""
        ...
