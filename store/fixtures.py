"""Bulk writers and whole-table readers for benchmarks and soaks, not for production code.

The production writers (store.trading and friends) take one row and its Decimal money per
call; a bench that builds 100 000 equity rows in seconds, or a soak that checks every row a
killed writer was told was committed, needs executemany over plain tuples and counts over a
whole table. They live here so the store still owns every statement: callers pass rows in
the column order each function names, inside their own `with store.write():` where it says
so. Nothing here opens a transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from store.db import Store

Row = Sequence[Any]
FILL_KEY_COLS = "fill_id, client_order_id, ticker, side, qty, price, fee, liquidity, at"


# -- bulk writers: inside the caller's write transaction ---------------------------------
def add_traders(conn: sqlite3.Connection, rows: Iterable[Row]) -> None:
    """rows: (name, broker, mode, model, tickers, timeframe, capital, backtest_sharpe,
    started_at, updated_at)."""
    conn.executemany(
        "INSERT INTO traders (name, broker, mode, model, tickers, timeframe, capital, "
        "backtest_sharpe, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def add_equity(conn: sqlite3.Connection, rows: Iterable[Row]) -> None:
    """rows: (trader, at, equity, cash, equity_f)."""
    conn.executemany(
        "INSERT INTO equity (trader, at, equity, cash, equity_f) VALUES (?, ?, ?, ?, ?)", rows)


def add_fills(conn: sqlite3.Connection, rows: Iterable[Row]) -> None:
    """rows: (fill_id, trader, client_order_id, ticker, side, qty, price, fee, liquidity,
    realized_pnl, at)."""
    conn.executemany(
        "INSERT INTO fills (fill_id, trader, client_order_id, ticker, side, qty, price, fee, "
        "liquidity, realized_pnl, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def add_equity_with_benchmark(conn: sqlite3.Connection, rows: Iterable[Row]) -> None:
    """rows: (trader, at, equity, cash, equity_f, benchmark_f)."""
    conn.executemany(
        "INSERT INTO equity (trader, at, equity, cash, equity_f, benchmark_f) "
        "VALUES (?, ?, ?, ?, ?, ?)", rows)


def add_attempts(conn: sqlite3.Connection, rows: Iterable[Row]) -> None:
    """rows: (study, trial, attempt, state, params, metrics, objective, started_at,
    ended_at)."""
    conn.executemany(
        "INSERT INTO attempts (study, trial, attempt, state, params, metrics, objective, "
        "started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def add_freed_decisions(conn: sqlite3.Connection, n: int) -> None:
    """n decision rows (~190 bytes each with their indexes), then two thirds deleted: a store
    whose file is mostly free pages, as after thinning a long backlog (`cappuccino compact`)."""
    conn.execute(
        "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?) "
        "INSERT INTO decisions (trader, bar_at, ticker, action, side, score, f_size, "
        "f_momentum, f_agreement, f_volatility, f_context, passed, reason, at) SELECT "
        "'t' || (i % 7), i * 300.0, 'BTC-USD', 0.5, 'BUY', 0.9, 0.9, 0.5, 0.5, 0.5, 0.5, 0, "
        "printf('score %.3f < 0.985 %040d', i / 1e6, i), i * 300.0 + 1 FROM k", (n,))
    conn.execute("DELETE FROM decisions WHERE id % 3 != 0")


def fast_load(conn: sqlite3.Connection) -> None:
    """Building a throwaway bench store: no fsync, a big page cache. Never on a real store."""
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -200000")


def settle(conn: sqlite3.Connection) -> None:
    """After a bulk load: planner statistics, and the WAL folded back into the file, so the
    figures measured next start from the state a long-lived store would be in."""
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def add_kv(conn: sqlite3.Connection, key: str, value: str, at: float) -> None:
    """A new key; a key that exists fails (sqlite3.IntegrityError): a soak's rows are unique."""
    conn.execute("INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?)", (key, value, at))


# -- whole-table readers ------------------------------------------------------------------
def equity_f_series(store: Store, trader: str) -> list[sqlite3.Row]:
    """Every (at, equity_f) row of one trader, oldest first, no page limit; the rows as
    SQLite gives them (a bench times what reading them costs, no copy on top)."""
    return store.query("SELECT at, equity_f FROM equity WHERE trader = ? ORDER BY at",
                       (trader,))


def total_fills(store: Store) -> int:
    row = store.one("SELECT count(*) FROM fills")
    return int(row[0]) if row is not None else 0


def system_sample_count(store: Store) -> int:
    row = store.one("SELECT count(*) FROM system_samples")
    return int(row[0]) if row is not None else 0


def decision_count(store: Store, trader: str | None = None) -> int:
    """Decision rows, of one trader or all."""
    sql, params = ("SELECT COUNT(*) FROM decisions", ()) if trader is None else (
        "SELECT COUNT(*) FROM decisions WHERE trader = ?", (trader,))
    row = store.one(sql, params)
    return int(row[0]) if row is not None else 0


def fill_keys(store: Store, trader: str) -> set[tuple[Any, ...]]:
    """One trader's fills as comparable tuples (FILL_KEY_COLS)."""
    return {tuple(r) for r in store.query(
        f"SELECT {FILL_KEY_COLS} FROM fills WHERE trader = ?", (trader,))}


def exchange_fill_keys(path: Path) -> set[tuple[Any, ...]]:
    """A sim exchange file's fills as the same tuples, read-only (the broker's truth)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return set(conn.execute(f"SELECT {FILL_KEY_COLS} FROM fills"))
    finally:
        conn.close()


def kv_keys(store: Store, prefix: str) -> set[str]:
    """Keys that start with prefix + '.'."""
    return {r[0] for r in store.query("SELECT key FROM kv WHERE key LIKE ?", (f"{prefix}.%",))}


def command_count(store: Store, source: str, target: str, actions: Sequence[str]) -> int:
    """Audit rows of commands from source to target with one of these actions."""
    marks = ", ".join("?" * len(actions))
    row = store.one(f"SELECT COUNT(*) FROM commands WHERE source = ? AND target = ? AND "
                    f"action IN ({marks})", (source, target, *actions))
    return int(row[0]) if row is not None else 0


def trader_exists(store: Store, name: str) -> bool:
    return store.one("SELECT 1 FROM traders WHERE name = ?", (name,)) is not None


def order_keys(store: Store, trader: str) -> list[tuple[str, float, str, int, str]]:
    """(client_order_id, bar_at, ticker, attempt, status) of every order of a trader."""
    return [(r[0], r[1], r[2], r[3], r[4]) for r in store.query(
        "SELECT client_order_id, bar_at, ticker, attempt, status FROM orders WHERE trader = ?",
        (trader,))]


def decided_bars(store: Store, trader: str) -> list[tuple[float, str]]:
    """(bar_at, ticker) of every decision row of a trader, repeats included."""
    return [(r[0], r[1]) for r in store.query(
        "SELECT bar_at, ticker FROM decisions WHERE trader = ?", (trader,))]


def fill_sides(store: Store, trader: str) -> list[tuple[str, str, str]]:
    """(ticker, side, qty) of every fill of a trader."""
    return [(r[0], r[1], r[2]) for r in store.query(
        "SELECT ticker, side, qty FROM fills WHERE trader = ?", (trader,))]


def position_qty(store: Store, trader: str) -> dict[str, str]:
    return {r[0]: r[1] for r in store.query(
        "SELECT ticker, qty FROM positions WHERE trader = ?", (trader,))}


def alert_messages(store: Store) -> list[str]:
    return [r[0] for r in store.query("SELECT message FROM alerts")]


def outbox_bodies(store: Store, event: str) -> list[str]:
    return [r[0] for r in store.query("SELECT body FROM outbox WHERE event = ?", (event,))]
