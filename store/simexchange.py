"""The simulated exchange's own file: its schema and every statement on it.

engine.brokers.sim keeps balances, orders, fills and its clock here, in a SQLite file of its
own (never the Cappuccino store), so a trader killed and restarted reconciles against it as
it would against a remote exchange. This module holds the SQL; the matching rules live in
the broker. Amounts are Decimal text, as the exchange file always stored them.

Each call runs on the file's one connection; a caller groups calls in `transaction()` (one
BEGIN IMMEDIATE each). SQLite's own trouble (disk full, locked) comes out as
`ExchangeFileError`, which the broker turns into its retryable error.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from store.rows import to_row, to_rows

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS balances (currency TEXT PRIMARY KEY, available TEXT NOT NULL, "
    "hold TEXT NOT NULL DEFAULT '0')",
    "CREATE TABLE IF NOT EXISTS orders (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
    "client_order_id TEXT NOT NULL UNIQUE, ticker TEXT NOT NULL, side TEXT NOT NULL, "
    "qty TEXT NOT NULL, limit_price TEXT, post_only INTEGER NOT NULL, status TEXT NOT NULL, "
    "filled_qty TEXT NOT NULL DEFAULT '0', avg_price TEXT, fees TEXT NOT NULL DEFAULT '0', "
    "held TEXT NOT NULL DEFAULT '0', created_at REAL NOT NULL, reason TEXT NOT NULL DEFAULT '')",
    "CREATE TABLE IF NOT EXISTS fills (fill_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL, "
    "broker_order_id TEXT NOT NULL, ticker TEXT NOT NULL, side TEXT NOT NULL, qty TEXT NOT NULL, "
    "price TEXT NOT NULL, fee TEXT NOT NULL, liquidity TEXT NOT NULL, at REAL NOT NULL)",
)


class ExchangeFileError(Exception):
    """SQLite could not read or write the exchange file (full disk, locked, not a database)."""


@dataclass(frozen=True)
class SimOrderRow:
    seq: int
    client_order_id: str
    ticker: str
    side: str
    qty: str
    limit_price: str | None
    post_only: int
    status: str
    filled_qty: str
    avg_price: str | None
    fees: str
    held: str
    created_at: float
    reason: str


@dataclass(frozen=True)
class SimFillRow:
    fill_id: str
    client_order_id: str
    broker_order_id: str
    ticker: str
    side: str
    qty: str
    price: str
    fee: str
    liquidity: str
    at: float


@dataclass(frozen=True)
class SimBalanceRow:
    currency: str
    available: str
    hold: str


@dataclass(frozen=True)
class SimGenesis:
    """What a new exchange file starts with."""
    index: int
    fingerprint: str
    id_prefix: str
    currency: str
    cash: Decimal


class SimExchangeFile:
    def __init__(self, path: str | Path, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        try:
            self.conn = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None,
                                        check_same_thread=False)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as e:
            raise self._error(e) from None

    def _error(self, e: sqlite3.Error) -> ExchangeFileError:
        return ExchangeFileError(f"exchange file {self.path}: {' '.join(str(e).split())}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise self._error(e) from None
        try:
            yield
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as e:
            self._rollback()
            raise self._error(e) from None
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        # After SQLITE_FULL SQLite may have rolled back already.
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def close(self) -> None:
        self.conn.close()

    # -- meta ---------------------------------------------------------------------------
    def ensure(self, genesis: SimGenesis) -> None:
        """Create the tables, and seed a new file's clock, ids and cash (inside a
        transaction). An existing file keeps everything it holds."""
        for stmt in _SCHEMA:
            self.conn.execute(stmt)
        if self.meta("index") is not None:
            return
        self.conn.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("index", str(genesis.index)), ("fingerprint", genesis.fingerprint),
            ("id_prefix", genesis.id_prefix)])
        self.conn.execute("INSERT INTO balances (currency, available) VALUES (?, ?)",
                          (genesis.currency, str(genesis.cash)))

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_index(self, index: int) -> None:
        self.conn.execute("UPDATE meta SET value = ? WHERE key = 'index'", (str(index),))

    # -- balances -----------------------------------------------------------------------
    def balance(self, currency: str) -> SimBalanceRow | None:
        return to_row(SimBalanceRow, self.conn.execute(
            "SELECT currency, available, hold FROM balances WHERE currency = ?",
            (currency,)).fetchone())

    def set_balance(self, currency: str, available: Decimal, hold: Decimal) -> None:
        self.conn.execute(
            "INSERT INTO balances (currency, available, hold) VALUES (?, ?, ?) "
            "ON CONFLICT(currency) DO UPDATE SET available=excluded.available, hold=excluded.hold",
            (currency, str(available), str(hold)))

    def balances(self) -> list[SimBalanceRow]:
        return to_rows(SimBalanceRow, self.conn.execute(
            "SELECT currency, available, hold FROM balances").fetchall())

    # -- orders -------------------------------------------------------------------------
    def order(self, client_order_id: str) -> SimOrderRow | None:
        return to_row(SimOrderRow, self.conn.execute(
            "SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,)).fetchone())

    def order_at(self, seq: int) -> SimOrderRow | None:
        return to_row(SimOrderRow, self.conn.execute(
            "SELECT * FROM orders WHERE seq = ?", (seq,)).fetchone())

    def resting_orders(self) -> list[SimOrderRow]:
        """Open orders, oldest first (the matching order)."""
        return to_rows(SimOrderRow, self.conn.execute(
            "SELECT * FROM orders WHERE status = 'OPEN' ORDER BY seq").fetchall())

    def every_order(self) -> list[SimOrderRow]:
        return to_rows(SimOrderRow, self.conn.execute(
            "SELECT * FROM orders ORDER BY seq").fetchall())

    def insert_order(self, *, client_order_id: str, ticker: str, side: str, qty: Decimal,
                     limit_price: Decimal | None, post_only: bool, status: str, held: Decimal,
                     created_at: float, reason: str) -> int:
        """Record an order; returns its sequence number."""
        cur = self.conn.execute(
            "INSERT INTO orders (client_order_id, ticker, side, qty, limit_price, post_only, "
            "status, held, created_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (client_order_id, ticker, side, str(qty),
             None if limit_price is None else str(limit_price), int(post_only), status,
             str(held), created_at, reason))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def mark_filled(self, seq: int, price: Decimal, fee: Decimal) -> None:
        self.conn.execute(
            "UPDATE orders SET status='FILLED', filled_qty=qty, avg_price=?, fees=?, held='0' "
            "WHERE seq=?", (str(price), str(fee), seq))

    def mark_cancelled(self, seq: int) -> None:
        self.conn.execute("UPDATE orders SET status='CANCELLED', held='0' WHERE seq=?", (seq,))

    # -- fills --------------------------------------------------------------------------
    def insert_sim_fill(self, fill: SimFillRow) -> None:
        self.conn.execute(
            "INSERT INTO fills (fill_id, client_order_id, broker_order_id, ticker, side, qty, "
            "price, fee, liquidity, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (fill.fill_id, fill.client_order_id, fill.broker_order_id, fill.ticker, fill.side,
             fill.qty, fill.price, fill.fee, fill.liquidity, fill.at))

    def fills_since(self, since: float) -> list[SimFillRow]:
        return to_rows(SimFillRow, self.conn.execute(
            "SELECT * FROM fills WHERE at >= ? ORDER BY at, rowid", (since,)).fetchall())
