"""Typed reads and writes for the trading tables: traders, orders, fills, positions, equity,
decisions.

Write helpers execute on `store.conn` without opening a transaction, so a caller can group
several of them in one `with store.write():` (one short BEGIN IMMEDIATE per bar). Called
outside a transaction each statement commits on its own.
Money and quantities are Decimal text; times are UTC unix seconds.

Clock: a trader records everything on ITS clock (replay time for the sim, wall time live), so
every write helper a trader calls takes `at` (default: the wall clock, for operator actions).
`traders.started_at` stays wall time (when the process started; uptime and paper hours).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from store import kv
from store.db import Store, now
from store.rows import to_row, to_rows

KILL_SWITCH_KEY = "kill_switch"


@dataclass(frozen=True)
class TraderRow:
    name: str
    broker: str
    mode: str
    model: str
    study: str | None
    trial: int | None
    tickers: str
    timeframe: str
    capital: str
    trading_state: str
    state_reason: str | None
    halt_requested: int
    backtest_sharpe: float | None
    fee_tier: str | None
    equity: str | None
    cash: str | None
    last_bar_at: float | None
    started_at: float
    updated_at: float
    unattributed: str | None = None   # JSON: account orders/holdings no trader placed

    @property
    def ticker_list(self) -> list[str]:
        return list(json.loads(self.tickers))


@dataclass(frozen=True)
class OrderRow:
    client_order_id: str
    trader: str
    broker_order_id: str | None
    ticker: str
    side: str
    order_type: str
    post_only: int
    qty: str
    limit_price: str | None
    status: str
    filled_qty: str
    avg_price: str | None
    fees: str
    bar_at: float
    attempt: int
    reason: str | None
    created_at: float
    updated_at: float

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "OPEN", "PARTIAL")


@dataclass(frozen=True)
class FillRow:
    fill_id: str
    trader: str
    client_order_id: str | None
    ticker: str
    side: str
    qty: str
    price: str
    fee: str
    liquidity: str
    realized_pnl: str | None
    at: float


@dataclass(frozen=True)
class PositionRow:
    trader: str
    ticker: str
    qty: str
    avg_price: str
    last_price: str | None
    realized_pnl: str
    unrealized_pnl: str
    updated_at: float


@dataclass(frozen=True)
class DecisionRecord:
    bar_at: float
    ticker: str
    action: float
    side: str
    score: float
    f_size: float
    f_momentum: float
    f_agreement: float
    f_volatility: float
    f_context: float
    passed: bool
    reason: str


@dataclass(frozen=True)
class DecisionSpan:
    """A trader's decisions since a bar time, as counts (engine.metrics.decision_stats turns
    them into rates)."""
    decisions: int            # BUY/SELL decisions (HOLDs excluded)
    passed: int
    avg_score: float | None   # of those decisions; None without any
    first_bar_at: float | None  # bar times of every decision, HOLDs included
    last_bar_at: float | None
    bars: int                 # distinct bar times


@dataclass(frozen=True)
class LiquidityCounts:
    maker_fills: int
    fills: int


# -- traders --------------------------------------------------------------------------------
def upsert_trader(store: Store, name: str, *, broker: str, mode: str, model: str,
                  study: str | None, trial: int | None, tickers: Sequence[str], timeframe: str,
                  capital: Decimal, backtest_sharpe: float | None = None,
                  at: float | None = None) -> None:
    t = now()
    upd = t if at is None else at
    store.conn.execute(
        "INSERT INTO traders (name, broker, mode, model, study, trial, tickers, timeframe, "
        "capital, backtest_sharpe, started_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT(name) DO UPDATE SET broker=excluded.broker, mode=excluded.mode, "
        "model=excluded.model, study=excluded.study, trial=excluded.trial, "
        "tickers=excluded.tickers, timeframe=excluded.timeframe, capital=excluded.capital, "
        "backtest_sharpe=COALESCE(excluded.backtest_sharpe, traders.backtest_sharpe), "
        "started_at=excluded.started_at, updated_at=excluded.updated_at",
        (name, broker, mode, model, study, trial, json.dumps(list(tickers)), timeframe,
         str(capital), backtest_sharpe, t, upd))


def get_trader(store: Store, name: str) -> TraderRow | None:
    return to_row(TraderRow, store.one("SELECT * FROM traders WHERE name = ?", (name,)))


def list_traders(store: Store) -> list[TraderRow]:
    return to_rows(TraderRow, store.query("SELECT * FROM traders ORDER BY name"))


def set_trader_fields(store: Store, name: str, *, at: float | None = None,
                      **fields: object) -> None:
    allowed = {"trading_state", "state_reason", "fee_tier", "equity", "cash", "last_bar_at",
               "halt_requested", "unattributed"}
    bad = set(fields) - allowed
    if bad:
        raise ValueError(f"not a trader field: {', '.join(sorted(bad))}")
    cols = ", ".join(f"{k} = ?" for k in fields)
    store.conn.execute(f"UPDATE traders SET {cols}, updated_at = ? WHERE name = ?",
                       (*fields.values(), now() if at is None else at, name))


def set_halt_requested(store: Store, name: str | None, flag: bool) -> int:
    """One trader, or every trader when name is None. Returns rows changed."""
    if name is None:
        cur = store.conn.execute("UPDATE traders SET halt_requested = ?, updated_at = ?",
                                 (int(flag), now()))
    else:
        cur = store.conn.execute(
            "UPDATE traders SET halt_requested = ?, updated_at = ? WHERE name = ?",
            (int(flag), now(), name))
    return cur.rowcount


# -- operator exits (force-exit / flatten) ---------------------------------------------------
EXIT_KEY = "exit_request."  # + trader: JSON {"tickers": [..] or null for all, "at": t}


@dataclass(frozen=True)
class ExitRequest:
    tickers: tuple[str, ...] | None  # None: every position of the trader
    at: float


def set_exit_request(store: Store, trader: str, tickers: list[str] | None, at: float) -> bool:
    """Ask the trader to sell to flat (call inside store.write()). False: no such trader.
    A request for one ticker joins an earlier one; a whole-trader request covers all."""
    if store.one("SELECT 1 FROM traders WHERE name = ?", (trader,)) is None:
        return False
    old = exit_request(store, trader)
    if old is not None and tickers is not None:
        tickers = None if old.tickers is None else sorted({*old.tickers, *tickers})
    value = json.dumps({"tickers": tickers, "at": at})
    kv.upsert(store.conn, EXIT_KEY + trader, value, at)
    return True


def exit_request(store: Store, trader: str) -> ExitRequest | None:
    row = store.one("SELECT value FROM kv WHERE key = ?", (EXIT_KEY + trader,))
    if row is None:
        return None
    try:
        doc = json.loads(row["value"])
        tickers = doc.get("tickers")
        return ExitRequest(None if tickers is None else tuple(str(t) for t in tickers),
                           float(doc.get("at") or 0.0))
    except (ValueError, TypeError, AttributeError):
        return None  # unreadable (never written by us): selling on a guess is worse


def clear_exit_request(store: Store, trader: str) -> None:
    with store.write():
        store.conn.execute("DELETE FROM kv WHERE key = ?", (EXIT_KEY + trader,))


def set_kill_switch(store: Store, on: bool, at: float | None = None) -> None:
    """Turn the global kill switch on or off (call inside store.write())."""
    kv.upsert(store.conn, KILL_SWITCH_KEY, "1" if on else "0", at)


def kill_switch_on(store: Store) -> bool:
    row = store.one("SELECT value FROM kv WHERE key = ?", (KILL_SWITCH_KEY,))
    return row is not None and row["value"] == "1"


def halt_flags(store: Store, name: str) -> tuple[bool, bool]:
    """(trader halt_requested, global kill switch) in one read."""
    row = store.one(
        "SELECT (SELECT halt_requested FROM traders WHERE name = ?) AS h, "
        "(SELECT value FROM kv WHERE key = ?) AS k", (name, KILL_SWITCH_KEY))
    return bool(row and row["h"]), bool(row and row["k"] == "1")


# -- orders ---------------------------------------------------------------------------------
def insert_order(store: Store, *, client_order_id: str, trader: str, ticker: str, side: str,
                 order_type: str, post_only: bool, qty: Decimal, limit_price: Decimal | None,
                 bar_at: float, attempt: int, status: str = "NEW", reason: str = "",
                 at: float | None = None) -> bool:
    """Record an order intent before it is sent. False if the id already exists."""
    t = now() if at is None else at
    cur = store.conn.execute(
        "INSERT OR IGNORE INTO orders (client_order_id, trader, ticker, side, order_type, "
        "post_only, qty, limit_price, status, bar_at, attempt, reason, created_at, updated_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (client_order_id, trader, ticker, side, order_type, int(post_only), str(qty),
         None if limit_price is None else str(limit_price), status, bar_at, attempt, reason, t, t))
    return cur.rowcount == 1


def update_order(store: Store, client_order_id: str, *, status: str,
                 broker_order_id: str | None = None, filled_qty: Decimal | None = None,
                 avg_price: Decimal | None = None, fees: Decimal | None = None,
                 reason: str | None = None, at: float | None = None) -> None:
    store.conn.execute(
        "UPDATE orders SET status = ?, broker_order_id = COALESCE(?, broker_order_id), "
        "filled_qty = COALESCE(?, filled_qty), avg_price = COALESCE(?, avg_price), "
        "fees = COALESCE(?, fees), reason = COALESCE(?, reason), updated_at = ? "
        "WHERE client_order_id = ?",
        (status, broker_order_id, None if filled_qty is None else str(filled_qty),
         None if avg_price is None else str(avg_price), None if fees is None else str(fees),
         reason, now() if at is None else at, client_order_id))


def get_order(store: Store, client_order_id: str) -> OrderRow | None:
    return to_row(OrderRow, store.one("SELECT * FROM orders WHERE client_order_id = ?",
                                      (client_order_id,)))


def open_orders(store: Store, trader: str) -> list[OrderRow]:
    return to_rows(OrderRow, store.query(
        "SELECT * FROM orders WHERE trader = ? AND status IN ('NEW', 'OPEN', 'PARTIAL') "
        "ORDER BY created_at", (trader,)))


def orders_for(store: Store, trader: str, bar_at: float, ticker: str) -> list[OrderRow]:
    return to_rows(OrderRow, store.query(
        "SELECT * FROM orders WHERE trader = ? AND bar_at = ? AND ticker = ? ORDER BY attempt",
        (trader, bar_at, ticker)))


def list_orders(store: Store, trader: str, limit: int = 1000) -> list[OrderRow]:
    return to_rows(OrderRow, store.query(
        "SELECT * FROM orders WHERE trader = ? ORDER BY created_at DESC LIMIT ?", (trader, limit)))


# -- fills and positions --------------------------------------------------------------------
def insert_fill(store: Store, *, fill_id: str, trader: str, client_order_id: str, ticker: str,
                side: str, qty: Decimal, price: Decimal, fee: Decimal, liquidity: str,
                realized_pnl: Decimal | None, at: float) -> bool:
    """False when the fill was already recorded. Fills are keyed by (trader, broker fill id):
    a broker's id is unique only within its account."""
    cur = store.conn.execute(
        "INSERT OR IGNORE INTO fills (fill_id, trader, client_order_id, ticker, side, qty, price,"
        " fee, liquidity, realized_pnl, at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (fill_id, trader, client_order_id, ticker, side, str(qty), str(price), str(fee),
         liquidity, None if realized_pnl is None else str(realized_pnl), at))
    return cur.rowcount == 1


def has_fill(store: Store, trader: str, fill_id: str) -> bool:
    return store.one("SELECT 1 FROM fills WHERE trader = ? AND fill_id = ?",
                     (trader, fill_id)) is not None


def list_fills(store: Store, trader: str, since: float = 0.0) -> list[FillRow]:
    return to_rows(FillRow, store.query(
        "SELECT * FROM fills WHERE trader = ? AND at >= ? ORDER BY at, rowid", (trader, since)))


def last_fill_at(store: Store, trader: str) -> float | None:
    row = store.one("SELECT MAX(at) AS m FROM fills WHERE trader = ?", (trader,))
    return row["m"] if row else None


def liquidity_counts(store: Store, trader: str, since: float = 0.0) -> LiquidityCounts:
    """The trader's fills since `since`, and how many rested on the book (maker)."""
    row = store.one(
        "SELECT COALESCE(SUM(liquidity = 'MAKER'), 0) AS m, COUNT(*) AS n FROM fills "
        "WHERE trader = ? AND at >= ?", (trader, since))
    return LiquidityCounts(int(row["m"]), int(row["n"])) if row else LiquidityCounts(0, 0)


def upsert_position(store: Store, trader: str, ticker: str, *, qty: Decimal, avg_price: Decimal,
                    last_price: Decimal | None, realized_pnl: Decimal,
                    unrealized_pnl: Decimal, at: float | None = None) -> None:
    store.conn.execute(
        "INSERT INTO positions (trader, ticker, qty, avg_price, last_price, realized_pnl, "
        "unrealized_pnl, updated_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(trader, ticker) DO "
        "UPDATE SET qty=excluded.qty, avg_price=excluded.avg_price, "
        "last_price=excluded.last_price, realized_pnl=excluded.realized_pnl, "
        "unrealized_pnl=excluded.unrealized_pnl, updated_at=excluded.updated_at",
        (trader, ticker, str(qty), str(avg_price), None if last_price is None else str(last_price),
         str(realized_pnl), str(unrealized_pnl), now() if at is None else at))


def positions(store: Store, trader: str) -> list[PositionRow]:
    return to_rows(PositionRow, store.query(
        "SELECT * FROM positions WHERE trader = ? ORDER BY ticker", (trader,)))


# -- equity and decisions -------------------------------------------------------------------
def insert_equity(store: Store, trader: str, at: float, equity: Decimal, cash: Decimal,
                  benchmark: float | None, ew: float | None = None,
                  backtest: float | None = None) -> None:
    """One bar's equity with its benchmarks: HODL (benchmark_f), equal weight rebalanced each
    bar (ew_f) and the model's own backtest on the same bars (backtest_f)."""
    store.conn.execute(
        "INSERT OR REPLACE INTO equity (trader, at, equity, cash, equity_f, benchmark_f, ew_f, "
        "backtest_f) VALUES (?,?,?,?,?,?,?,?)",
        (trader, at, str(equity), str(cash), float(equity), benchmark, ew, backtest))


def equity_series(store: Store, trader: str, limit: int) -> list[tuple[float, float]]:
    """The last `limit` (at, equity_f) points, oldest first."""
    rows = store.query("SELECT at, equity_f FROM equity WHERE trader = ? ORDER BY at DESC "
                       "LIMIT ?", (trader, limit))
    return [(r["at"], r["equity_f"]) for r in reversed(rows)]


def insert_decisions(store: Store, trader: str, records: Iterable[DecisionRecord],
                     at: float | None = None) -> None:
    t = now() if at is None else at
    store.conn.executemany(
        "INSERT INTO decisions (trader, bar_at, ticker, action, side, score, f_size, f_momentum,"
        " f_agreement, f_volatility, f_context, passed, reason, at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(trader, r.bar_at, r.ticker, r.action, r.side, r.score, r.f_size, r.f_momentum,
          r.f_agreement, r.f_volatility, r.f_context, int(r.passed), r.reason, t)
         for r in records])


def decision_span(store: Store, trader: str, since: float = 0.0) -> DecisionSpan:
    """Decisions at bar times >= `since`: counts of those to trade, and the bars covered."""
    row = store.one(
        "SELECT COUNT(*) AS n, COALESCE(SUM(passed), 0) AS p, AVG(score) AS s FROM decisions "
        "WHERE trader = ? AND side != 'HOLD' AND bar_at >= ?", (trader, since))
    span = store.one("SELECT MIN(bar_at) AS t0, MAX(bar_at) AS t1, COUNT(DISTINCT bar_at) AS b "
                     "FROM decisions WHERE trader = ? AND bar_at >= ?", (trader, since))
    return DecisionSpan(
        decisions=int(row["n"]) if row else 0, passed=int(row["p"]) if row else 0,
        avg_score=None if row is None or row["s"] is None else float(row["s"]),
        first_bar_at=None if span is None or span["t0"] is None else float(span["t0"]),
        last_bar_at=None if span is None or span["t1"] is None else float(span["t1"]),
        bars=int(span["b"]) if span else 0)


# -- books: what each trader owns on a shared account ----------------------------------------
def venue_peers(store: Store, broker: str, exclude: str, active_since: float) -> list[TraderRow]:
    """Other traders on the same venue whose row was updated at or after `active_since`."""
    return to_rows(TraderRow, store.query(
        "SELECT * FROM traders WHERE broker = ? AND name != ? AND updated_at >= ? "
        "ORDER BY name", (broker, exclude, active_since)))


def known_order_ids(store: Store, client_order_ids: Sequence[str]) -> set[str]:
    """Which of these client order ids some trader of this store placed."""
    ids = list(client_order_ids)
    found: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        marks = ",".join("?" * len(chunk))
        found.update(r["client_order_id"] for r in store.query(
            f"SELECT client_order_id FROM orders WHERE client_order_id IN ({marks})", chunk))
    return found


def order_hints(store: Store, trader: str, since: float) -> list[tuple[str, str | None, float]]:
    """(client_order_id, broker_order_id, created_at) of the trader's open orders and of those
    created at or after `since`: what a restarted broker client needs to look orders up by id."""
    return [(r["client_order_id"], r["broker_order_id"], r["created_at"]) for r in store.query(
        "SELECT client_order_id, broker_order_id, created_at FROM orders WHERE trader = ? AND "
        "(status IN ('NEW', 'OPEN', 'PARTIAL') OR created_at >= ?)", (trader, since))]
