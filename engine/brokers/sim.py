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

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from math import nan
from pathlib import Path

import numpy as np

from engine.brokers.base import (
    Balance,
    Bar,
    BrokerError,
    FeeTier,
    Fill,
    OrderRejected,
    OrderRequest,
    OrderState,
    Product,
    Quote,
)
from engine.data.candles import Candles
from engine.files import private_dir

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS balances (currency TEXT PRIMARY KEY, available TEXT NOT NULL,
    hold TEXT NOT NULL DEFAULT '0');
CREATE TABLE IF NOT EXISTS orders (seq INTEGER PRIMARY KEY AUTOINCREMENT,
    client_order_id TEXT NOT NULL UNIQUE, ticker TEXT NOT NULL, side TEXT NOT NULL,
    qty TEXT NOT NULL, limit_price TEXT, post_only INTEGER NOT NULL, status TEXT NOT NULL,
    filled_qty TEXT NOT NULL DEFAULT '0', avg_price TEXT, fees TEXT NOT NULL DEFAULT '0',
    held TEXT NOT NULL DEFAULT '0', created_at REAL NOT NULL, reason TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS fills (fill_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL,
    broker_order_id TEXT NOT NULL, ticker TEXT NOT NULL, side TEXT NOT NULL, qty TEXT NOT NULL,
    price TEXT NOT NULL, fee TEXT NOT NULL, liquidity TEXT NOT NULL, at REAL NOT NULL);
"""

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
        self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                    check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        with self._tx():
            for stmt in _SCHEMA.strip().split(";"):
                if stmt.strip():
                    self.conn.execute(stmt)
            row = self.conn.execute("SELECT value FROM meta WHERE key='index'").fetchone()
            if row is None:
                start = max(0, min(start_index, candles.n_bars - 1))
                self.conn.execute("INSERT INTO meta VALUES ('index', ?)", (str(start),))
                self.conn.execute("INSERT INTO meta VALUES ('fingerprint', ?)",
                                  (candles.fingerprint(),))
                self.conn.execute("INSERT INTO meta VALUES ('id_prefix', ?)",
                                  (uuid.uuid4().hex[:10],))
                self.conn.execute("INSERT INTO balances (currency, available) VALUES (?, ?)",
                                  (QUOTE_CCY, str(Decimal(initial_cash))))
        self._index = int(self.conn.execute(
            "SELECT value FROM meta WHERE key='index'").fetchone()[0])
        row = self.conn.execute("SELECT value FROM meta WHERE key='id_prefix'").fetchone()
        self._ids = f"{row[0]}-" if row else ""

    # -- plumbing -----------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[None]:
        """One exchange transaction. The file's own trouble (disk full, locked) is a
        BrokerError, as an unreachable exchange would be: the trader retries, it never dies
        with a traceback."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise self._file_error(e) from None
        try:
            yield
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as e:
            self._rollback()
            raise self._file_error(e) from None
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        # After SQLITE_FULL SQLite may have rolled back already.
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def _file_error(self, e: sqlite3.Error) -> BrokerError:
        return BrokerError(f"sim: exchange file {self.path}: {' '.join(str(e).split())}")

    def close(self) -> None:
        self.conn.close()

    def _order_id(self, seq: int) -> str:
        return f"sim-{self._ids}{seq}"

    def _bal(self, ccy: str) -> tuple[Decimal, Decimal]:
        row = self.conn.execute("SELECT available, hold FROM balances WHERE currency=?",
                                (ccy,)).fetchone()
        return (Decimal(row[0]), Decimal(row[1])) if row else (Decimal(0), Decimal(0))

    def _set_bal(self, ccy: str, available: Decimal, hold: Decimal) -> None:
        self.conn.execute(
            "INSERT INTO balances (currency, available, hold) VALUES (?, ?, ?) "
            "ON CONFLICT(currency) DO UPDATE SET available=excluded.available, hold=excluded.hold",
            (ccy, str(available), str(hold)))

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
            self.conn.execute("UPDATE meta SET value=? WHERE key='index'", (str(idx),))
            at = float(self.candles.times[idx]) + self.period
            for row in self.conn.execute(
                    "SELECT * FROM orders WHERE status='OPEN' ORDER BY seq").fetchall():
                col = self._col[row["ticker"]]
                price = Decimal(row["limit_price"])
                if row["side"] == "BUY" and self._low[idx, col] < float(price) or (
                        row["side"] == "SELL" and self._high[idx, col] > float(price)):
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
        return {r["currency"]: Balance(r["currency"], Decimal(r["available"]), Decimal(r["hold"]))
                for r in self.conn.execute("SELECT * FROM balances")}

    def fee_tier(self) -> FeeTier:
        return FeeTier("sim", self.maker_rate, self.taker_rate)

    # -- orders -------------------------------------------------------------------------
    def _state(self, row: sqlite3.Row) -> OrderState:
        return OrderState(
            client_order_id=row["client_order_id"], broker_order_id=self._order_id(row["seq"]),
            ticker=row["ticker"], side=row["side"], qty=Decimal(row["qty"]),
            limit_price=Decimal(row["limit_price"]) if row["limit_price"] else None,
            status=row["status"], filled_qty=Decimal(row["filled_qty"]),
            avg_price=Decimal(row["avg_price"]) if row["avg_price"] else None,
            fees=Decimal(row["fees"]), created_at=row["created_at"], reason=row["reason"])

    def _row(self, client_order_id: str) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM orders WHERE client_order_id=?",
                                 (client_order_id,)).fetchone()

    def _fill(self, row: sqlite3.Row, price: Decimal, liquidity: str, at: float) -> None:
        qty = Decimal(row["qty"])
        notional = qty * price
        fee = (notional * (self.maker_rate if liquidity == "MAKER" else self.taker_rate)
               ).quantize(Decimal("0.00000001"), rounding=ROUND_UP)
        base = _base(row["ticker"])
        cash, cash_hold = self._bal(QUOTE_CCY)
        units, units_hold = self._bal(base)
        held = Decimal(row["held"])
        if row["side"] == "BUY":
            cash, cash_hold = cash + held - notional - fee, cash_hold - held
            units += qty
        else:
            units_hold -= held
            units = units + held - qty
            cash += notional - fee
        self._set_bal(QUOTE_CCY, cash, cash_hold)
        self._set_bal(base, units, units_hold)
        self.conn.execute(
            "UPDATE orders SET status='FILLED', filled_qty=qty, avg_price=?, fees=?, held='0' "
            "WHERE seq=?", (str(price), str(fee), row["seq"]))
        self.conn.execute("INSERT INTO fills VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          (f"simfill-{self._ids}{row['seq']}", row["client_order_id"],
                           self._order_id(row["seq"]),
                           row["ticker"], row["side"], str(qty), str(price), str(fee), liquidity,
                           at))

    def submit(self, req: OrderRequest) -> OrderState:
        with self._tx():
            existing = self._row(req.client_order_id)
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
        cur = self.conn.execute(
            "INSERT INTO orders (client_order_id, ticker, side, qty, limit_price, post_only, "
            "status, held, created_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (req.client_order_id, req.ticker, req.side, str(qty),
             str(limit) if limit is not None else None, int(req.post_only), status, str(held),
             self.now(), reject[0] if reject else ""))
        row = self.conn.execute("SELECT * FROM orders WHERE seq=?", (cur.lastrowid,)).fetchone()
        if not reject and crosses:
            self._fill(row, exec_price, "TAKER", self.now())
            row = self.conn.execute("SELECT * FROM orders WHERE seq=?", (cur.lastrowid,)).fetchone()
        return self._state(row), reject

    def cancel(self, client_order_ids: list[str]) -> None:
        with self._tx():
            for cid in client_order_ids:
                row = self._row(cid)
                if row is None or row["status"] != "OPEN":
                    continue
                held = Decimal(row["held"])
                if row["side"] == "BUY":
                    cash, hold = self._bal(QUOTE_CCY)
                    self._set_bal(QUOTE_CCY, cash + held, hold - held)
                else:
                    base = _base(row["ticker"])
                    units, hold = self._bal(base)
                    self._set_bal(base, units + held, hold - held)
                self.conn.execute("UPDATE orders SET status='CANCELLED', held='0' WHERE seq=?",
                                  (row["seq"],))

    def get_order(self, client_order_id: str) -> OrderState | None:
        row = self._row(client_order_id)
        return self._state(row) if row else None

    def open_orders(self) -> list[OrderState]:
        return [self._state(r) for r in self.conn.execute(
            "SELECT * FROM orders WHERE status='OPEN' ORDER BY seq")]

    def all_orders(self) -> list[OrderState]:
        return [self._state(r) for r in self.conn.execute("SELECT * FROM orders ORDER BY seq")]

    def fills(self, since: float) -> list[Fill]:
        return [Fill(r["fill_id"], r["client_order_id"], r["broker_order_id"], r["ticker"],
                     r["side"], Decimal(r["qty"]), Decimal(r["price"]), Decimal(r["fee"]),
                     r["liquidity"], r["at"])
                for r in self.conn.execute("SELECT * FROM fills WHERE at >= ? ORDER BY at, rowid",
                                           (since,))]
