"""Read-only snapshot queries for the console: each returns frozen dataclasses.

Every query is indexed and bounded (a page of rows, a downsampled series), so one console
refresh stays cheap however large the store grows. Nothing here writes.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, cast

from store.alerts import AlertRow
from store.commands import CommandRow
from store.db import Store
from store.registry import EVIDENCE_KEY, StudyRow
from store.rows import to_row, to_rows
from store.samples import GpuProcessSample as GpuProcessSample
from store.samples import GpuSample as GpuSample
from store.samples import SystemSample as SystemSample
from store.trading import PositionRow, TraderRow

# One row type per table: where a view is a whole row, it is that table's row type. The
# aliases (and the `X as X` imports above) are explicit re-exports for the console.
AlertView = AlertRow
CommandView = CommandRow
StudyView = StudyRow
PositionView = PositionRow
TraderView = TraderRow

DEFAULT_PAGE = 500


def _page(limit: int) -> int:
    return max(1, min(int(limit), 5000))


# -- fills --------------------------------------------------------------------------------
@dataclass(frozen=True)
class FillView:
    fill_id: str
    trader: str
    ticker: str
    side: str
    qty: str
    price: str
    fee: str
    liquidity: str
    realized_pnl: str | None
    at: float


def last_fills(store: Store, limit: int = DEFAULT_PAGE, trader: str | None = None) -> list[FillView]:
    """The newest fills first (fills_at / fills_trader_at index, one page)."""
    cols = "fill_id, trader, ticker, side, qty, price, fee, liquidity, realized_pnl, at"
    if trader is None:
        rows = store.query(f"SELECT {cols} FROM fills ORDER BY at DESC LIMIT ?", (_page(limit),))
    else:
        rows = store.query(f"SELECT {cols} FROM fills WHERE trader = ? ORDER BY at DESC LIMIT ?",
                           (trader, _page(limit)))
    return to_rows(FillView, rows)


def newest_fill_mark(store: Store) -> tuple[int, float] | None:
    """(rowid, at) of the newest fill (fills_at index): a cheap "did fills change" check."""
    row = store.one("SELECT rowid, at FROM fills ORDER BY at DESC, rowid DESC LIMIT 1")
    return None if row is None else (int(row[0]), float(row[1]))


def fills_oldest_first(store: Store, trader: str | None = None, since: float | None = None,
                       newest: int | None = None) -> list[FillView]:
    """Fills in the order they happened (for pairing into round trips); with `newest`, only
    the newest that many (fills_at / fills_trader_at index)."""
    cols = "fill_id, trader, ticker, side, qty, price, fee, liquidity, realized_pnl, at"
    where: list[str] = []
    params: list[Any] = []
    if trader is not None:
        where.append("trader = ?")
        params.append(trader)
    if since is not None:
        where.append("at >= ?")
        params.append(since)
    sql = f"SELECT {cols} FROM fills" + (" WHERE " + " AND ".join(where) if where else "")
    if newest is None:
        return to_rows(FillView, store.query(sql + " ORDER BY at, rowid", tuple(params)))
    rows = store.query(sql + " ORDER BY at DESC, rowid DESC LIMIT ?", (*params, int(newest)))
    return to_rows(FillView, list(reversed(rows)))


# -- equity -------------------------------------------------------------------------------
@dataclass(frozen=True)
class EquityPoint:
    at: float
    equity: float
    benchmark: float | None   # HODL on the same clock
    backtest: float | None    # the model's own backtest on the bars the trader traded


def equity_curve(store: Store, trader: str, max_points: int = 240,
                  since: float | None = None) -> list[EquityPoint]:
    """At most max_points points of a trader's equity, evenly spaced in time.

    Rather than scanning every row, it seeks the last row at or before each of max_points
    ticks on the (trader, at) primary key: cost grows with max_points, not with the table.
    """
    n = max(2, int(max_points))
    lo = since if since is not None else float("-inf")
    first = store.one("SELECT at FROM equity WHERE trader = ? AND at >= ? ORDER BY at LIMIT 1",
                      (trader, lo))
    if first is None:
        return []
    t0 = float(first["at"])
    # an aggregate query always returns exactly one row
    few = cast(sqlite3.Row, store.one("SELECT count(*) AS c FROM (SELECT 1 FROM equity WHERE "
                                      "trader = ? AND at >= ? LIMIT ?)", (trader, t0, n + 1)))["c"] <= n
    if few:
        return to_rows(EquityPoint, store.query(
            "SELECT at, equity_f AS equity, benchmark_f AS benchmark, backtest_f AS backtest "
            "FROM equity "
            "WHERE trader = ? AND at >= ? ORDER BY at", (trader, t0)))
    # an aggregate query always returns exactly one row
    t1 = float(cast(sqlite3.Row, store.one("SELECT max(at) AS t FROM equity WHERE trader = ?",
                                           (trader,)))["t"])
    step = (t1 - t0) / (n - 1)
    # Materialise the picked times first: one index seek per tick, then one primary-key
    # lookup per distinct time (a correlated subquery in the join's ON ran far more often).
    rows = store.query(
        "WITH RECURSIVE ticks(i, t) AS (SELECT 0, :t0 UNION ALL "
        "  SELECT i + 1, :t0 + (i + 1) * :step FROM ticks WHERE i + 1 < :n), "
        "picks(at) AS MATERIALIZED (SELECT DISTINCT (SELECT at FROM equity "
        "  WHERE trader = :trader AND at <= ticks.t + 1e-9 ORDER BY at DESC LIMIT 1) "
        "  FROM ticks) "
        "SELECT e.at, e.equity_f AS equity, e.benchmark_f AS benchmark, "
        "e.backtest_f AS backtest "
        "FROM picks JOIN equity e ON e.trader = :trader AND e.at = picks.at "
        "ORDER BY e.at",
        {"t0": t0, "step": step, "n": n, "trader": trader})
    return to_rows(EquityPoint, rows)


# -- trials -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrialCounts:
    study: str
    total: int
    running: int
    complete: int
    failed: int
    pruned: int
    retrying: int
    retried: int  # trials that needed more than one attempt
    hosts: int = 1  # hosts whose trials are here: this one and those mirrored from others


def trial_counts(store: Store, study: str) -> TrialCounts:
    """Counts by the state of each trial's latest attempt, and how many hosts ran them."""
    # SQLite: a bare column next to max() comes from the row holding the max.
    rows = store.query(
        "SELECT state, count(*) AS n, sum(attempts > 1) AS retried FROM ("
        "  SELECT trial, state, max(attempt) AS last, count(*) AS attempts "
        "  FROM attempts WHERE study = ? GROUP BY trial) GROUP BY state", (study,))
    by_state = {r["state"]: int(r["n"]) for r in rows}
    return TrialCounts(
        study=study, total=sum(by_state.values()),
        running=by_state.get("RUNNING", 0), complete=by_state.get("COMPLETE", 0),
        failed=by_state.get("FAILED", 0), pruned=by_state.get("PRUNED", 0),
        retrying=by_state.get("RETRYING", 0),
        retried=sum(int(r["retried"] or 0) for r in rows), hosts=study_hosts(store, study))


def study_hosts(store: Store, study: str) -> int:
    """How many hosts ran the study's trials (0: none yet).

    Every named host counts once: this host's workers record its name, and each mirrored
    trial names the host that ran it. This host's attempts without a name (an older
    worker) count as one more host only when none of its attempts names it.
    """
    row = store.one(
        "SELECT count(DISTINCT nullif(host, '')) AS named, "
        "max(mirrored = 0 AND coalesce(host, '') = '') AS anon, "
        "max(mirrored = 0 AND coalesce(host, '') != '') AS local_named "
        "FROM attempts WHERE study = ?", (study,))
    if row is None:
        return 0
    return int(row["named"] or 0) + int(bool(row["anon"]) and not row["local_named"])


def studies(store: Store, limit: int = 50) -> list[StudyView]:
    return to_rows(StudyView, store.query(
        "SELECT * FROM studies ORDER BY updated_at DESC LIMIT ?", (_page(limit),)))


def study(store: Store, name: str | None = None) -> StudyView | None:
    """A named study, or the most recently updated one."""
    # with the study driver's evidence summary (registry.put_study_evidence), if any
    sql = ("SELECT s.*, k.value AS evidence FROM studies s LEFT JOIN kv k "
           "ON k.key = ? || s.name ")
    if name:
        return to_row(StudyView, store.one(sql + "WHERE s.name = ?", (EVIDENCE_KEY, name)))
    return to_row(StudyView, store.one(sql + "ORDER BY s.updated_at DESC, s.name LIMIT 1",
                                       (EVIDENCE_KEY,)))


@dataclass(frozen=True)
class AttemptView:
    id: int
    study: str
    trial: int
    attempt: int
    state: str
    error_class: str | None
    error_message: str | None
    objective: float | None
    device: str | None
    peak_mem_mb: float | None
    batch_size: int | None
    progress: float
    model_path: str | None
    process: str | None
    started_at: float
    heartbeat_at: float | None
    ended_at: float | None
    # The saved model's held-out backtest Sharpe next to its benchmarks (None: no model).
    sharpe: float | None = None
    ew_sharpe: float | None = None
    hodl_sharpe: float | None = None
    # Where it ran: the host its worker recorded (None or '' from an older worker), and 1
    # when the row is a copy of another host's trial (mirrored from the shared study).
    host: str | None = None
    mirrored: int = 0


_ATTEMPT_COLS = ", ".join(f"a.{c}" for c in (
    "id", "study", "trial", "attempt", "state", "error_class", "error_message", "objective",
    "device", "peak_mem_mb", "batch_size", "progress", "model_path", "process", "started_at",
    "heartbeat_at", "ended_at", "host", "mirrored"))


def attempts_page(store: Store, study: str, limit: int = DEFAULT_PAGE,
                  offset: int = 0) -> list[AttemptView]:
    """Attempts of a study, newest trial first (attempts_study index), one page.

    Each attempt that saved a model carries that model's Sharpe and its equal-weight and
    HODL benchmarks: one primary-key lookup in models per row of the page.
    """
    return to_rows(AttemptView, store.query(
        f"SELECT {_ATTEMPT_COLS}, m.sharpe, m.ew_sharpe, m.hodl_sharpe FROM attempts a "
        "LEFT JOIN models m ON m.path = a.model_path WHERE a.study = ? "
        "ORDER BY a.trial DESC, a.attempt DESC LIMIT ? OFFSET ?",
        (study, _page(limit), max(0, int(offset)))))


def running_attempts_all_hosts(store: Store, study: str,
                               limit: int = 64) -> list[AttemptView]:
    """RUNNING attempts, mirrored ones from other hosts included (registry.running_attempts
    is this host's own)."""
    return to_rows(AttemptView, store.query(
        f"SELECT {_ATTEMPT_COLS} FROM attempts a WHERE a.study = ? AND a.state = 'RUNNING' "
        "ORDER BY a.trial LIMIT ?", (study, _page(limit))))


# -- processes ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ProcessView:
    name: str
    kind: str
    desired: str
    state: str
    pid: int | None
    create_time: float | None
    restarts: int
    started_at: float | None
    exit_code: int | None
    last_error: str | None
    log_path: str | None
    heartbeat_at: float | None


def processes(store: Store, limit: int = DEFAULT_PAGE) -> list[ProcessView]:
    return to_rows(ProcessView, store.query(
        "SELECT name, kind, desired, state, pid, create_time, restarts, started_at, exit_code, "
        "last_error, log_path, heartbeat_at FROM processes ORDER BY kind, name LIMIT ?",
        (_page(limit),)))


# -- samples ------------------------------------------------------------------------------
def gpu_history(store: Store, gpu: int, limit: int = 120) -> list[GpuSample]:
    """The last `limit` samples of one GPU, oldest first (for a sparkline)."""
    rows = store.query(
        "SELECT at, gpu, name, mem_used_mb, mem_total_mb, util_pct, temp_c, resolution "
        "FROM gpu_samples "
        "WHERE gpu = ? ORDER BY at DESC LIMIT ?", (gpu, _page(limit)))
    return to_rows(GpuSample, rows[::-1])


def gpu_processes(store: Store, window_s: float = 60.0) -> list[GpuProcessSample]:
    """Per-process GPU memory at the newest sampling instant (within window_s of it)."""
    last = store.one("SELECT max(at) AS t FROM gpu_process_samples")
    if last is None or last["t"] is None:
        return []
    return to_rows(GpuProcessSample, store.query(
        "SELECT at, gpu, pid, process, mem_used_mb FROM gpu_process_samples WHERE at = ? "
        "ORDER BY gpu, mem_used_mb DESC LIMIT ?", (last["t"], DEFAULT_PAGE)))


def system_history(store: Store, limit: int = 120) -> list[SystemSample]:
    rows = store.query(
        "SELECT * FROM system_samples ORDER BY at DESC LIMIT ?", (_page(limit),))
    return to_rows(SystemSample, rows[::-1])


# -- traders and positions ----------------------------------------------------------------


def traders(store: Store, limit: int = 100) -> list[TraderView]:
    return to_rows(TraderView, store.query(
        "SELECT * FROM traders ORDER BY mode DESC, name LIMIT ?", (_page(limit),)))


def trader_clock(store: Store, trader: str) -> float | None:
    """The trader's own latest time: its last bar, equity, fill or decision, whichever is last.

    A trader records on its own clock: a simulated replay trader writes replay times (years
    behind the wall clock), so windows over its rows must end here, not at the wall clock.
    Each part is one seek on a (trader, at) index.
    """
    row = store.one(
        "SELECT max(coalesce((SELECT last_bar_at FROM traders WHERE name = :t), -1e18), "
        "coalesce((SELECT max(at) FROM equity WHERE trader = :t), -1e18), "
        "coalesce((SELECT max(at) FROM fills WHERE trader = :t), -1e18), "
        "coalesce((SELECT max(at) FROM decisions WHERE trader = :t), -1e18)) AS t",
        {"t": trader})
    t = row["t"] if row is not None else None
    return None if t is None or t <= -1e17 else float(t)


def positions_page(store: Store, trader: str | None = None,
                   limit: int = DEFAULT_PAGE) -> list[PositionView]:
    if trader is None:
        rows = store.query("SELECT * FROM positions ORDER BY trader, ticker LIMIT ?",
                           (_page(limit),))
    else:
        rows = store.query("SELECT * FROM positions WHERE trader = ? ORDER BY ticker LIMIT ?",
                           (trader, _page(limit)))
    return to_rows(PositionView, rows)


# -- decisions ----------------------------------------------------------------------------
@dataclass(frozen=True)
class DecisionView:
    id: int
    trader: str
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
    passed: int
    reason: str | None
    at: float


def blocked_decisions(store: Store, trader: str | None = None,
                      limit: int = 50) -> list[DecisionView]:
    """The most recent decisions the filter refused (decisions_trader_passed_at index)."""
    if trader is None:
        rows = store.query("SELECT * FROM decisions WHERE passed = 0 AND side != 'HOLD' "
                           "ORDER BY id DESC LIMIT ?", (_page(limit),))
    else:
        rows = store.query("SELECT * FROM decisions WHERE trader = ? AND passed = 0 "
                           "AND side != 'HOLD' ORDER BY at DESC LIMIT ?", (trader, _page(limit)))
    return to_rows(DecisionView, rows)


# -- alerts, promotions, commands ---------------------------------------------------------


def alerts(store: Store, limit: int = 100, trader: str | None = None) -> list[AlertView]:
    if trader is None:
        rows = store.query("SELECT * FROM alerts ORDER BY at DESC, id DESC LIMIT ?",
                           (_page(limit),))
    else:
        rows = store.query("SELECT * FROM alerts WHERE trader = ? ORDER BY at DESC LIMIT ?",
                           (trader, _page(limit)))
    return to_rows(AlertView, rows)


def latest_alert_per_trader(store: Store) -> list[AlertView]:
    """Each trader's current level: its newest alert (alerts_trader_at index)."""
    return to_rows(AlertView, store.query(
        "SELECT a.* FROM traders t JOIN alerts a ON a.id = "
        "  (SELECT id FROM alerts WHERE trader = t.name ORDER BY at DESC LIMIT 1) "
        "ORDER BY t.name"))


@dataclass(frozen=True)
class GateView:
    name: str
    value: Any
    threshold: Any
    passed: bool


@dataclass(frozen=True)
class PromotionView:
    id: int
    at: float
    kind: str
    subject: str
    trader: str | None
    gates: tuple[GateView, ...]
    passed: bool
    forced: bool
    reason: str | None
    capital: str | None


def _gates(text: str) -> tuple[GateView, ...]:
    try:
        items = json.loads(text)
    except ValueError:
        return ()
    out = []
    for g in items if isinstance(items, list) else []:
        if isinstance(g, dict):
            out.append(GateView(name=str(g.get("name", "?")), value=g.get("value"),
                                threshold=g.get("threshold"), passed=bool(g.get("passed"))))
    return tuple(out)


def _promotion(r: Any) -> PromotionView:
    return PromotionView(id=r["id"], at=r["at"], kind=r["kind"], subject=r["subject"],
                         trader=r["trader"], gates=_gates(r["gates"]), passed=bool(r["passed"]),
                         forced=bool(r["forced"]), reason=r["reason"], capital=r["capital"])


def promotions(store: Store, limit: int = 50) -> list[PromotionView]:
    return [_promotion(r) for r in store.query(
        "SELECT * FROM promotions ORDER BY id DESC LIMIT ?", (_page(limit),))]


def latest_promotion_per_trader(store: Store) -> list[PromotionView]:
    """The newest promotion record of each trader (its current gate status)."""
    return [_promotion(r) for r in store.query(
        "SELECT p.* FROM promotions p JOIN (SELECT trader, max(id) AS id FROM promotions "
        "WHERE trader IS NOT NULL GROUP BY trader) m ON m.id = p.id ORDER BY p.trader")]


def finished_commands(store: Store, ids: list[int]) -> list[CommandView]:
    """Which of these commands have an outcome (done/failed) now."""
    if not ids:
        return []
    ids = ids[:500]
    return to_rows(CommandView, store.query(
        f"SELECT * FROM commands WHERE id IN ({','.join('?' * len(ids))}) "
        "AND state IN ('done', 'failed') ORDER BY id", ids))
