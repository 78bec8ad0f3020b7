"""SimBroker: a simulated exchange that replays candles, with its own persistent state.

Like a remote exchange, it keeps balances, orders, fills and its clock in its OWN SQLite
file (not the Cappuccino store), so a trader that is killed and restarted reconciles
against it exactly as it would against Coinbase.

Rules:
- Time: `now()` is the close of the last revealed bar; `advance()` reveals the next one
  (driven by engine.trading.clock.ReplayClock). `bars()` only returns revealed bars.
- Bars: fields the replayed data lacks (close-only sources) come back as NaN.
- Quotes: last close -/+ half of `spread_bps` (rounded to the quote increment).
- A resting limit buy fills (maker, at its limit) when a later bar trades through it
  (low < limit); a sell when high > limit. Close-only data uses min/max(previous close,
  close) as the bar's range.
- Post-only that would cross (buy >= ask, sell <= bid) is rejected (reason post_only).
  Market orders and crossing limits fill at once at the ask/bid as taker.
- Fees in the quote currency from the fee tier; funds are held while an order rests.
- `submit` is idempotent on client_order_id.
- Ids: order and fill ids carry a random prefix made with the file (`sim-<prefix>-<seq>`,
  `simfill-<prefix>-<seq>`), so two exchange files never hand out the same id (a file made
  before prefixes keeps its plain `sim-<seq>` ids).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from math import nan
from pathlib import Path
from typing import cast

import numpy as np

from engine.brokers.base import (
    Balance,
    Bar,
    BrokerError,
    FeeTier,
    Fill,
    Liquidity,
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderStatus,
    Product,
    Quote,
    Side,
)
from engine.data.candles import Candles
from engine.files import private_dir
from store.simexchange import (
    ExchangeFileError,
    SimExchangeFile,
    SimFillRow,
    SimGenesis,
    SimOrderRow,
)

QUOTE_CCY = "USD"


def _base(ticker: str) -> str:
    return ticker.split("-")[0]


class SimBroker:
    name = "sim"

    def __init__(self, state_path: str | Path, candles: Candles, *, start_index: int,
                 initial_cash: Decimal, maker_rate: Decimal = Decimal("0.004"),
                 taker_rate: Decimal = Decimal("0.006"), spread_bps: float = 2.0) -> None:
        if candles.n_bars < 2:
            raise BrokerError("sim: the candles hold fewer than 2 bars")
        self.candles = candles
        self.tickers = candles.tickers
        self.period = candles.bar_seconds
        self.maker_rate, self.taker_rate = Decimal(maker_rate), Decimal(taker_rate)
        self.half_spread = Decimal(str(spread_bps)) / Decimal(20000)
        self._col = {t: i for i, t in enumerate(candles.tickers)}
        close = candles.close
        prev = np.vstack([close[:1], close[:-1]])
        self._low = candles.low if candles.low is not None else np.minimum(prev, close)
        self._high = candles.high if candles.high is not None else np.maximum(prev, close)
        self.path = Path(state_path)
        private_dir(self.path.parent)
        try:
            self.file = SimExchangeFile(self.path)
        except ExchangeFileError as e:
            raise self._file_error(e) from None
        with self._tx():
            self.file.ensure(SimGenesis(
                index=max(0, min(start_index, candles.n_bars - 1)),
                fingerprint=candles.fingerprint(), id_prefix=uuid.uuid4().hex[:10],
                currency=QUOTE_CCY, cash=Decimal(initial_cash)))
            index, prefix = self.file.meta("index"), self.file.meta("id_prefix")
        assert index is not None  # ensure() wrote it
        self._index = int(index)
        self._ids = f"{prefix}-" if prefix else ""  # a file made before prefixes: plain ids

    # -- plumbing -----------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[None]:
        """One exchange transaction. The file's own trouble (disk full, locked) is a
        BrokerError, as an unreachable exchange would be: the trader retries, it never dies
        with a traceback."""
        try:
            with self.file.transaction():
                yield
        except ExchangeFileError as e:
            raise self._file_error(e) from None

    @staticmethod
    def _file_error(e: ExchangeFileError) -> BrokerError:
        return BrokerError(f"sim: {e}")

    def close(self) -> None:
        self.file.close()

    def _order_id(self, seq: int) -> str:
        return f"sim-{self._ids}{seq}"

    def _bal(self, ccy: str) -> tuple[Decimal, Decimal]:
        row = self.file.balance(ccy)
        return (Decimal(row.available), Decimal(row.hold)) if row else (Decimal(0), Decimal(0))

    def _set_bal(self, ccy: str, available: Decimal, hold: Decimal) -> None:
        self.file.set_balance(ccy, available, hold)

    def _col_of(self, ticker: str) -> int:
        try:
            return self._col[ticker]
        except KeyError:
            raise OrderRejected(f"sim: unknown product {ticker}", "other") from None

    # -- clock --------------------------------------------------------------------------
    def now(self) -> float:
        return float(self.candles.times[self._index]) + self.period

    @property
    def index(self) -> int:
        return self._index

    def advance(self) -> bool:
        """Reveal the next bar and match resting orders against it. False at the data's end."""
        if self._index + 1 >= self.candles.n_bars:
            return False
        with self._tx():
            idx = self._index + 1
            self.file.set_index(idx)
            at = float(self.candles.times[idx]) + self.period
            for row in self.file.resting_orders():
                col = self._col[row.ticker]
                assert row.limit_price is not None  # only limit orders rest
                price = Decimal(row.limit_price)
                if row.side == "BUY" and self._low[idx, col] < float(price) or (
                        row.side == "SELL" and self._high[idx, col] > float(price)):
                    self._fill(row, price, "MAKER", at)
        self._index = idx
        return True

    # -- market data --------------------------------------------------------------------
    def product(self, ticker: str) -> Product:
        col = self._col_of(ticker)
        price = float(self.candles.close[self._index, col])
        quote_inc = Decimal("0.01") if price >= 10 else Decimal("0.0001")
        return Product(ticker=ticker, base_increment=Decimal("0.00000001"),
                       quote_increment=quote_inc, base_min_size=Decimal("0.00000001"),
                       quote_min_size=Decimal("1"))

    def quotes(self, tickers: list[str]) -> dict[str, Quote]:
        out = {}
        for t in tickers:
            col = self._col_of(t)
            close = Decimal(repr(float(self.candles.close[self._index, col])))
            inc = self.product(t).quote_increment
            bid = (close * (1 - self.half_spread)).quantize(inc, rounding=ROUND_DOWN)
            ask = (close * (1 + self.half_spread)).quantize(inc, rounding=ROUND_UP)
            if ask <= bid:
                ask = bid + inc
            out[t] = Quote(t, bid, ask, self.now())
        return out

    def bars(self, ticker: str, start: float, end: float, timeframe: str) -> list[Bar]:
        if timeframe != self.candles.timeframe:
            raise BrokerError(f"sim: replays {self.candles.timeframe} bars, not {timeframe}")
        col = self._col_of(ticker)
        times = self.candles.times
        lo = int(np.searchsorted(times, start, side="left"))
        hi = min(int(np.searchsorted(times, end, side="left")), self._index + 1)
        c = self.candles
        out = []
        for i in range(lo, hi):
            close = float(c.close[i, col])
            # NaN marks a field the replayed data does not have (close-only sources), so
            # the trader computes exactly the features the model was trained with.
            out.append(Bar(ticker, float(times[i]),
                           float(c.open[i, col]) if c.open is not None else nan,
                           float(c.high[i, col]) if c.high is not None else nan,
                           float(c.low[i, col]) if c.low is not None else nan, close,
                           float(c.volume[i, col]) if c.volume is not None else nan))
        return out

    # -- account ------------------------------------------------------------------------
    def balances(self) -> dict[str, Balance]:
        return {r.currency: Balance(r.currency, Decimal(r.available), Decimal(r.hold))
                for r in self.file.balances()}

    def fee_tier(self) -> FeeTier:
        return FeeTier("sim", self.maker_rate, self.taker_rate)

    # -- orders -------------------------------------------------------------------------
    def _state(self, row: SimOrderRow) -> OrderState:
        return OrderState(
            client_order_id=row.client_order_id, broker_order_id=self._order_id(row.seq),
            ticker=row.ticker, side=cast(Side, row.side), qty=Decimal(row.qty),
            limit_price=Decimal(row.limit_price) if row.limit_price else None,
            status=cast(OrderStatus, row.status), filled_qty=Decimal(row.filled_qty),
            avg_price=Decimal(row.avg_price) if row.avg_price else None,
            fees=Decimal(row.fees), created_at=row.created_at, reason=row.reason)

    def _fill(self, row: SimOrderRow, price: Decimal, liquidity: str, at: float) -> None:
        qty = Decimal(row.qty)
        notional = qty * price
        fee = (notional * (self.maker_rate if liquidity == "MAKER" else self.taker_rate)
               ).quantize(Decimal("0.00000001"), rounding=ROUND_UP)
        base = _base(row.ticker)
        cash, cash_hold = self._bal(QUOTE_CCY)
        units, units_hold = self._bal(base)
        held = Decimal(row.held)
        if row.side == "BUY":
            cash, cash_hold = cash + held - notional - fee, cash_hold - held
            units += qty
        else:
            units_hold -= held
            units = units + held - qty
            cash += notional - fee
        self._set_bal(QUOTE_CCY, cash, cash_hold)
        self._set_bal(base, units, units_hold)
        self.file.mark_filled(row.seq, price, fee)
        self.file.insert_sim_fill(SimFillRow(
            fill_id=f"simfill-{self._ids}{row.seq}", client_order_id=row.client_order_id,
            broker_order_id=self._order_id(row.seq), ticker=row.ticker, side=row.side,
            qty=str(qty), price=str(price), fee=str(fee), liquidity=liquidity, at=at))

    def submit(self, req: OrderRequest) -> OrderState:
        with self._tx():
            existing = self.file.order(req.client_order_id)
            if existing is not None:
                return self._state(existing)
            state, reject = self._place(req)
        if reject is not None:
            raise OrderRejected(f"sim: {req.ticker} {req.side} {req.qty} rejected: {reject[1]}",
                                reject[0])
        return state

    def _place(self, req: OrderRequest) -> tuple[OrderState, tuple[str, str] | None]:
        product = self.product(req.ticker)
        q = self.quotes([req.ticker])[req.ticker]
        reject: tuple[str, str] | None = None
        qty, limit = Decimal(req.qty), req.limit_price
        crosses = limit is None or (req.side == "BUY" and limit >= q.ask) or (
            req.side == "SELL" and limit <= q.bid)
        exec_price = q.ask if req.side == "BUY" else q.bid
        base = _base(req.ticker)
        cash, cash_hold = self._bal(QUOTE_CCY)
        units, units_hold = self._bal(base)
        if qty <= 0 or qty < product.base_min_size or qty % product.base_increment != 0:
            reject = ("size", f"size {qty} is below the minimum or off the increment")
        elif (limit if limit is not None else exec_price) * qty < product.quote_min_size:
            reject = ("size", f"value below the minimum {product.quote_min_size}")
        elif req.post_only and crosses:
            reject = ("post_only", "post-only order would cross the book")
        elif req.side == "BUY":
            price = exec_price if crosses else limit
            assert price is not None
            need = qty * price * (1 + self.taker_rate)
            if need > cash:
                reject = ("funds", f"needs {need:.2f} {QUOTE_CCY}, has {cash:.2f}")
        elif qty > units:
            reject = ("funds", f"sells {qty} {base}, has {units}")
        status = "REJECTED" if reject else "OPEN"
        held = Decimal(0)
        if not reject and not crosses:
            assert limit is not None
            if req.side == "BUY":
                held = qty * limit * (1 + self.taker_rate)
                self._set_bal(QUOTE_CCY, cash - held, cash_hold + held)
            else:
                held = qty
                self._set_bal(base, units - held, units_hold + held)
        seq = self.file.insert_order(
            client_order_id=req.client_order_id, ticker=req.ticker, side=req.side, qty=qty,
            limit_price=limit, post_only=req.post_only, status=status, held=held,
            created_at=self.now(), reason=reject[0] if reject else "")
        row = self.file.order_at(seq)
        assert row is not None  # written just above, in this transaction
        if not reject and crosses:
            self._fill(row, exec_price, "TAKER", self.now())
            row = self.file.order_at(seq)
            assert row is not None
        return self._state(row), reject

    def cancel(self, client_order_ids: list[str]) -> None:
        with self._tx():
            for cid in client_order_ids:
                row = self.file.order(cid)
                if row is None or row.status != "OPEN":
                    continue
                held = Decimal(row.held)
                if row.side == "BUY":
                    cash, hold = self._bal(QUOTE_CCY)
                    self._set_bal(QUOTE_CCY, cash + held, hold - held)
                else:
                    base = _base(row.ticker)
                    units, hold = self._bal(base)
                    self._set_bal(base, units + held, hold - held)
                self.file.mark_cancelled(row.seq)

    def get_order(self, client_order_id: str) -> OrderState | None:
        row = self.file.order(client_order_id)
        return self._state(row) if row else None

    def open_orders(self) -> list[OrderState]:
        return [self._state(r) for r in self.file.resting_orders()]

    def all_orders(self) -> list[OrderState]:
        return [self._state(r) for r in self.file.every_order()]

    def fills(self, since: float) -> list[Fill]:
        # The file holds only what this class wrote: sides, statuses and liquidity it named.
        return [Fill(r.fill_id, r.client_order_id, r.broker_order_id, r.ticker,
                     cast(Side, r.side), Decimal(r.qty), Decimal(r.price), Decimal(r.fee),
                     cast(Liquidity, r.liquidity), r.at)
                for r in self.file.fills_since(since)]
