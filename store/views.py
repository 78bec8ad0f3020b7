"""Read-only snapshot queries for the console: each returns frozen dataclasses.

Every query is indexed and bounded (a page of rows, a downsampled series), so one console
refresh stays cheap however large the store grows. Nothing here writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# One row type per table: where a view is a whole row, it is that table's row type.
from store.alerts import AlertRow as AlertView
from store.commands import CommandRow as CommandView
from store.db import Store
from store.registry import EVIDENCE_KEY
from store.registry import StudyRow as StudyView
from store.rows import to_row, to_rows
from store.samples import GpuProcessSample, SystemSample
from store.trading import PositionRow as PositionView
from store.trading import TraderRow as TraderView

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
    where, params = [], []
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


def equity_series(store: Store, trader: str, max_points: int = 240,
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
    few = store.one("SELECT count(*) AS c FROM (SELECT 1 FROM equity WHERE trader = ? AND "
                    "at >= ? LIMIT ?)", (trader, t0, n + 1))["c"] <= n
    if few:
        return to_rows(EquityPoint, store.query(
            "SELECT at, equity_f AS equity, benchmark_f AS benchmark, backtest_f AS backtest "
            "FROM equity "
            "WHERE trader = ? AND at >= ? ORDER BY at", (trader, t0)))
    t1 = float(store.one("SELECT max(at) AS t FROM equity WHERE trader = ?", (trader,))["t"])
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
    return to_row(StudyView, store.one(sql + "ORDER BY s.updated_at DESC LIMIT 1",
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


def running_attempts(store: Store, study: str, limit: int = 64) -> list[AttemptView]:
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
@dataclass(frozen=True)
class GpuSample:
    at: float
    gpu: int
    name: str | None
    mem_used_mb: float
    mem_total_mb: float
    util_pct: float | None
    temp_c: float | None


def gpu_latest(store: Store) -> list[GpuSample]:
    """The newest sample of each GPU (one seek per GPU on the (gpu, at) key)."""
    # A skip-scan: find each next GPU id with one index seek, never scanning the samples.
    return to_rows(GpuSample, store.query(
        "WITH RECURSIVE d(gpu) AS (SELECT min(gpu) FROM gpu_samples UNION ALL "
        "  SELECT (SELECT min(gpu) FROM gpu_samples WHERE gpu > d.gpu) FROM d "
        "  WHERE d.gpu IS NOT NULL) "
        "SELECT g.at, g.gpu, g.name, g.mem_used_mb, g.mem_total_mb, g.util_pct, g.temp_c "
        "FROM d "
        "JOIN gpu_samples g ON g.gpu = d.gpu AND g.at = "
        "  (SELECT max(at) FROM gpu_samples WHERE gpu = d.gpu) ORDER BY g.gpu"))


def gpu_history(store: Store, gpu: int, limit: int = 120) -> list[GpuSample]:
    """The last `limit` samples of one GPU, oldest first (for a sparkline)."""
    rows = store.query(
        "SELECT at, gpu, name, mem_used_mb, mem_total_mb, util_pct, temp_c FROM gpu_samples "
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


def system_latest(store: Store) -> SystemSample | None:
    return to_row(SystemSample, store.one(
        "SELECT * FROM system_samples ORDER BY at DESC LIMIT 1"))


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


def positions(store: Store, trader: str | None = None,
              limit: int = DEFAULT_PAGE) -> list[PositionView]:
    if trader is None:
        rows = store.query("SELECT * FROM positions ORDER BY trader, ticker LIMIT ?",
                           (_page(limit),))
    else:
        rows = store.query("SELECT * FROM positions WHERE trader = ? ORDER BY ticker LIMIT ?",
                           (trader, _page(limit)))
    return to_rows(PositionView, rows)


# -- conviction ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ConvictionStats:
    trader: str
    window_s: float
    decisions: int
    passed: int
    pass_rate: float | None
    avg_score: float | None
    trades_per_day: float | None
    projected_per_month: float | None


def conviction_stats(store: Store, trader: str, since: float, until: float) -> ConvictionStats:
    """Decisions that wanted to trade (side != HOLD) in [since, until], and how many passed.

    Trades per day are measured over the span actually covered by decisions (a trader that
    started an hour ago is not averaged over a whole week).
    """
    return conviction_from_buckets(trader, decision_buckets(store, trader, since, until + 1e-9),
                                   since, until)


@dataclass(frozen=True)
class DecisionBucket:
    """One UTC day of a trader's decisions to trade: counts, score sum, first decision time."""
    day: int
    decisions: int
    passed: int
    score_sum: float
    first_at: float


def decision_buckets(store: Store, trader: str, since: float,
                     until: float) -> list[DecisionBucket]:
    """Per-day decision counts in [since, until) (decisions_trader_at index)."""
    rows = store.query(
        "SELECT CAST(at / 86400 AS INTEGER) AS day, count(*) AS n, sum(passed) AS p, "
        "total(score) AS s, min(at) AS t0 FROM decisions WHERE trader = ? AND at >= ? "
        "AND at < ? AND side != 'HOLD' GROUP BY day ORDER BY day", (trader, since, until))
    return [DecisionBucket(int(r["day"]), int(r["n"]), int(r["p"] or 0), float(r["s"]),
                           float(r["t0"])) for r in rows]


def conviction_from_buckets(trader: str, buckets: list[DecisionBucket], since: float,
                            until: float) -> ConvictionStats:
    n = sum(b.decisions for b in buckets)
    passed = sum(b.passed for b in buckets)
    per_day = None
    if n:
        t0 = min(b.first_at for b in buckets if b.decisions)
        per_day = passed / max((until - t0) / 86400.0, 1 / 24)
    return ConvictionStats(
        trader=trader, window_s=until - since, decisions=n, passed=passed,
        pass_rate=(passed / n) if n else None,
        avg_score=(sum(b.score_sum for b in buckets) / n) if n else None,
        trades_per_day=per_day, projected_per_month=(per_day * 30.0 if per_day is not None
                                                     else None))


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


# -- execution ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ExecutionStats:
    trader: str
    fills: int
    maker_fills: int
    maker_ratio: float | None
    fees_paid: str               # Decimal text
    fee_tier: dict[str, Any] | None
    since: float


MAKER_TARGET = 0.70


def _fee_tier(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


@dataclass(frozen=True)
class FillBucket:
    """One UTC day of a trader's fills: counts and fees (Decimal text)."""
    day: int                     # unix seconds // 86400
    fills: int
    maker_fills: int
    fees: str


def fill_buckets(store: Store, trader: str, since: float, until: float) -> list[FillBucket]:
    """Per-day fill counts and fees in [since, until) (fills_trader_at index).

    Past days never change, so a caller can keep them and re-read only the current day.
    """
    from decimal import Decimal, InvalidOperation

    rows = store.query(
        "SELECT CAST(at / 86400 AS INTEGER) AS day, count(*) AS n, "
        "sum(liquidity = 'MAKER') AS maker, group_concat(fee, ' ') AS fees FROM fills "
        "WHERE trader = ? AND at >= ? AND at < ? GROUP BY day ORDER BY day",
        (trader, since, until))
    out = []
    for r in rows:
        total = Decimal(0)
        for f in (r["fees"] or "").split():
            try:
                total += Decimal(f)
            except InvalidOperation:
                continue
        out.append(FillBucket(day=int(r["day"]), fills=int(r["n"]),
                              maker_fills=int(r["maker"] or 0), fees=str(total)))
    return out


def execution_from_buckets(trader: str, buckets: list[FillBucket], fee_tier: str | None,
                           since: float) -> ExecutionStats:
    from decimal import Decimal

    fills = sum(b.fills for b in buckets)
    maker = sum(b.maker_fills for b in buckets)
    fees = sum((Decimal(b.fees) for b in buckets), Decimal(0))
    return ExecutionStats(trader=trader, fills=fills, maker_fills=maker,
                          maker_ratio=(maker / fills) if fills else None, fees_paid=str(fees),
                          fee_tier=_fee_tier(fee_tier), since=since)


def execution_stats(store: Store, trader: str, since: float) -> ExecutionStats:
    """Maker ratio and fees over fills since `since` (fills_trader_at index)."""
    from decimal import Decimal, InvalidOperation

    rows = store.query(
        "SELECT liquidity, count(*) AS n, group_concat(fee, ' ') AS fees FROM fills "
        "WHERE trader = ? AND at >= ? GROUP BY liquidity", (trader, since))
    total, maker, fees = 0, 0, Decimal(0)
    for r in rows:
        total += int(r["n"])
        if r["liquidity"] == "MAKER":
            maker += int(r["n"])
        for f in (r["fees"] or "").split():
            try:
                fees += Decimal(f)
            except InvalidOperation:
                continue
    tier_row = store.one("SELECT fee_tier FROM traders WHERE name = ?", (trader,))
    tier = _fee_tier(tier_row["fee_tier"] if tier_row else None)
    return ExecutionStats(trader=trader, fills=total, maker_fills=maker,
                          maker_ratio=(maker / total) if total else None, fees_paid=str(fees),
                          fee_tier=tier, since=since)


# -- alerts, promotions, commands ---------------------------------------------------------


def alerts(store: Store, limit: int = 100, trader: str | None = None) -> list[AlertView]:
    if trader is None:
        rows = store.query("SELECT * FROM alerts ORDER BY at DESC LIMIT ?", (_page(limit),))
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


def recent_commands(store: Store, limit: int = 50, after_id: int = 0) -> list[CommandView]:
    return to_rows(CommandView, store.query(
        "SELECT * FROM commands WHERE id > ? ORDER BY id DESC LIMIT ?", (after_id, _page(limit))))


def finished_commands(store: Store, ids: list[int]) -> list[CommandView]:
    """Which of these commands have an outcome (done/failed) now."""
    if not ids:
        return []
    ids = ids[:500]
    return to_rows(CommandView, store.query(
        f"SELECT * FROM commands WHERE id IN ({','.join('?' * len(ids))}) "
        "AND state IN ('done', 'failed') ORDER BY id", ids))
