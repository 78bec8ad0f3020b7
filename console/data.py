"""The console's data loader: one refresh of every pane's data, as one frozen Snapshot.

It runs in a worker thread with its own Store; the UI thread only renders the Snapshot.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from console.procinfo import ProcStats, last_line, psutil_stats
from engine import metrics
from engine.money import increment_of, quantity
from engine.reports.trades import RoundTrip, round_trips
from engine.supervisor import lock
from engine.supervisor.client import KV_HEARTBEAT
from store import kv, period, samples, views
from store.db import Store, StoreError
from store.increments import base_increments

DAY = 86400.0
CONVICTION_WINDOW_S = 7 * DAY
EXECUTION_WINDOW_S = 30 * DAY
CACHE_S = 600.0  # how long kept fill days are trusted
# A non-live trader whose own clock is this far behind the wall clock is a replay (the demo's
# simulated trader lives in 2022): its windows end at its clock. The same rule as the report.
REPLAY_LAG_S = DAY
EQUITY_POINTS = 240
GPU_HISTORY = 60
# Tables that gain rows at the top show the newest rows only (a page, never the table);
# `cappuccino export attempts|decisions|alerts` has them all.
ATTEMPT_ROWS = 100
BLOCKED_ROWS = 30
ALERT_ROWS = 50
FILL_ROWS = 200
TRIP_ROWS = 200
# Round trips pair the newest FILL_HISTORY fills (a sell of coins bought earlier is left
# out and counted); `cappuccino export trades` pairs every fill.
FILL_HISTORY = 2000


@dataclass(frozen=True)
class ProcessInfo:
    name: str
    kind: str
    state: str
    desired: str
    pid: int | None
    restarts: int
    uptime_s: float | None
    cpu_pct: float | None
    rss_mb: float | None
    last_log: str
    log_path: str | None
    last_error: str | None


@dataclass(frozen=True)
class Snapshot:
    at: float
    error: str | None = None
    study: views.StudyView | None = None
    studies: tuple[str, ...] = ()
    counts: views.TrialCounts | None = None
    attempts: tuple[views.AttemptView, ...] = ()
    running: tuple[views.AttemptView, ...] = ()
    processes: tuple[ProcessInfo, ...] = ()
    gpus: tuple[views.GpuSample, ...] = ()
    gpu_history: tuple[tuple[float, ...], ...] = ()
    gpu_procs: tuple[views.GpuProcessSample, ...] = ()
    system: views.SystemSample | None = None
    traders: tuple[views.TraderView, ...] = ()
    positions: tuple[views.PositionView, ...] = ()
    equity: tuple[tuple[str, tuple[views.EquityPoint, ...]], ...] = ()
    conviction: tuple[metrics.ConvictionStats, ...] = ()
    blocked: tuple[views.DecisionView, ...] = ()
    execution: tuple[metrics.ExecutionStats, ...] = ()
    alerts: tuple[views.AlertView, ...] = ()
    levels: tuple[views.AlertView, ...] = ()
    gates: tuple[views.PromotionView, ...] = ()
    # (trader, time) for each trader whose windows end at its own (replay) clock.
    clocks: tuple[tuple[str, float], ...] = ()
    finished: tuple[views.CommandView, ...] = ()
    fills: tuple[views.FillView, ...] = ()       # newest first
    trips: tuple[RoundTrip, ...] = ()            # newest exit first
    unmatched_exits: int = 0
    # The health line's inputs: which store, and the supervisor as the loader saw it.
    store_path: str = ""
    sup_alive: bool = False
    sup_pid: int | None = None
    sup_age_s: float | None = None
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)


StatsFn = Callable[[int | None, float | None], ProcStats]


class Loader:
    """Builds Snapshots from the store at `path`. Keeps one Store per thread that calls it."""

    def __init__(self, path: str | Path, *, page_rows: int = 500, busy_timeout_s: float = 10.0,
                 clock: Callable[[], float], proc_stats: StatsFn = psutil_stats,
                 log_line: Callable[[str | None], str] = last_line,
                 stale_after_s: float = 10.0, logs_dir: str | Path | None = None) -> None:
        self.path = Path(path)
        # [paths] logs: a row's log path elsewhere is not read (a row is anyone's to write).
        self.logs_dir = None if logs_dir is None else Path(logs_dir).resolve()
        self.stale_after_s = stale_after_s
        self.page_rows = page_rows
        self.busy_timeout_s = busy_timeout_s
        self.clock = clock
        self.proc_stats = proc_stats
        self.log_line = log_line
        self._local = threading.local()
        # Per (kind, trader), the day buckets of settled past days (they do not change).
        self._cache: dict[tuple[str, str], dict[int, Any]] = {}
        self._cache_lock = threading.Lock()
        self._cache_at = 0.0
        self._ends: dict[tuple[str, str], float] = {}
        # The Trades pane's data, kept while the newest fill is the same (pairing 2,000
        # fills costs ~15-40 ms; most refreshes bring no fill), for CACHE_S at most.
        self._trades: tuple[object, float, tuple[Any, ...]] | None = None

    def store(self) -> Store:
        st: Store | None = getattr(self._local, "store", None)
        if st is None:
            # check=False: quick_check reads the whole file; the supervisor already ran it.
            st = Store(self.path, create=False, check=False, busy_timeout_s=self.busy_timeout_s)
            self._local.store = st
        return st

    def close(self) -> None:
        st = getattr(self._local, "store", None)
        if st is not None:
            st.close()
            self._local.store = None

    def load(self, study_name: str | None = None, pending: tuple[int, ...] = ()) -> Snapshot:
        import dataclasses

        now = self.clock()
        # The lock first: the kernel drops it the moment the supervisor dies (even on
        # SIGKILL), so a dead supervisor shows at the next refresh, store or no store.
        pid = lock.holder(lock.lock_path(self.path))
        try:
            st = self.store()
        except StoreError as e:
            return Snapshot(at=now, error=str(e), store_path=str(self.path),
                            sup_alive=pid is not None, sup_pid=pid or None)
        try:
            age = self._beat_age(st, now)
            snap = self._load(st, now, study_name, pending)
        except Exception as e:  # a busy or broken store shows as a status line, never a crash
            self.close()
            return Snapshot(at=now, error=f"{type(e).__name__}: {e}", store_path=str(self.path),
                            sup_alive=pid is not None, sup_pid=pid or None)
        alive = pid is not None and (age is None or age <= self.stale_after_s)
        return dataclasses.replace(snap, store_path=str(self.path), sup_alive=alive,
                                   sup_pid=pid or None, sup_age_s=age)

    @staticmethod
    def _beat_age(st: Store, now: float) -> float | None:
        raw = kv.get(st, KV_HEARTBEAT)
        try:
            return max(0.0, now - float(raw)) if raw else None
        except ValueError:
            return None

    def _load(self, st: Store, now: float, study_name: str | None,
              pending: tuple[int, ...]) -> Snapshot:
        import time

        t: dict[str, float] = {}
        mark = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal mark
            t2 = time.perf_counter()
            t[name] = (t2 - mark) * 1000
            mark = t2

        page = self.page_rows
        names = tuple(s.name for s in views.studies(st, limit=50))
        study = views.study(st, study_name) if study_name in names else views.study(st)
        counts = attempts = running = None
        if study is not None:
            counts = views.trial_counts(st, study.name)
            attempts = views.attempts_page(st, study.name, limit=min(page, ATTEMPT_ROWS))
            running = views.running_attempts_all_hosts(st, study.name, limit=16)
        lap("trials")
        procs = []
        for p in views.processes(st, limit=page):
            alive = p.state in ("RUNNING", "STARTING", "STOPPING")
            stats = self.proc_stats(p.pid, p.create_time) if alive else ProcStats(None, None)
            procs.append(ProcessInfo(
                name=p.name, kind=p.kind, state=p.state, desired=p.desired,
                pid=p.pid if alive else None, restarts=p.restarts,
                uptime_s=(now - p.started_at) if alive and p.started_at else None,
                cpu_pct=stats.cpu_pct, rss_mb=stats.rss_mb,
                last_log=self.log_line(self._own_log(p.log_path)),
                log_path=p.log_path, last_error=p.last_error))
        lap("processes")
        gpus = samples.latest_gpus(st)
        hist = tuple(tuple(s.mem_used_mb for s in views.gpu_history(st, g.gpu, GPU_HISTORY))
                     for g in gpus)
        gprocs = views.gpu_processes(st)
        system = samples.latest_system(st)
        lap("gpu")
        traders = views.traders(st)
        positions = views.positions_page(st, limit=page)
        equity = tuple((tr.name, tuple(views.equity_curve(st, tr.name, EQUITY_POINTS)))
                       for tr in traders)
        lap("positions")
        ends = {tr.name: window_end(now, tr.mode, views.trader_clock(st, tr.name))
                for tr in traders}
        conviction = tuple(self._conviction(st, tr.name, ends[tr.name], now) for tr in traders)
        blocked = views.blocked_decisions(st, limit=BLOCKED_ROWS)
        lap("conviction")
        execution = tuple(self._execution(st, tr, ends[tr.name], now) for tr in traders)
        lap("execution")
        alerts = views.alerts(st, limit=ALERT_ROWS)
        levels = views.latest_alert_per_trader(st)
        gates = views.latest_promotion_per_trader(st)
        finished = views.finished_commands(st, list(pending))
        lap("alerts")
        fills, trips, unmatched = self._trade_rows(st, now)
        incs = base_increments(st)  # quantities on each trader's product increment
        shown_positions, fills, trips = (on_increments(rows, incs)
                                         for rows in (positions, fills, trips))
        lap("trades")
        return Snapshot(
            at=now, study=study, studies=names, counts=counts, attempts=tuple(attempts or ()),
            running=tuple(running or ()), processes=tuple(procs), gpus=tuple(gpus),
            gpu_history=hist, gpu_procs=tuple(gprocs), system=system, traders=tuple(traders),
            positions=shown_positions, equity=equity, conviction=conviction,
            blocked=tuple(blocked), execution=execution, alerts=tuple(alerts),
            levels=tuple(levels), gates=tuple(gates),
            clocks=tuple((k, v) for k, v in ends.items() if v != now),
            finished=tuple(finished), fills=fills, trips=trips,
            unmatched_exits=unmatched, timings_ms=t)

    def _trade_rows(self, st: Store, now: float) -> tuple[Any, ...]:
        """(recent fills newest first, round trips newest exit first, unmatched sells)."""
        mark = views.newest_fill_mark(st)
        kept = self._trades
        if kept is not None and kept[0] == mark and 0 <= now - kept[1] <= CACHE_S:
            return kept[2]
        history = views.fills_oldest_first(st, newest=FILL_HISTORY)
        matched = round_trips(history)
        rows = (tuple(reversed(history[-FILL_ROWS:])),
                tuple(reversed(matched.trips[-TRIP_ROWS:])), matched.unmatched_exits)
        self._trades = (mark, now, rows)
        return rows

    def _own_log(self, path: str | None) -> str | None:
        if path is None or self.logs_dir is None:
            return path
        try:
            return path if Path(path).resolve().is_relative_to(self.logs_dir) else None
        except (OSError, ValueError, RuntimeError):
            return None

    def _days(self, kind: str, trader: str, first: int, end: float, wall: float,
              read: Callable[[float, float], list[Any]], empty: Callable[[int], Any]) -> list[Any]:
        """Per-day buckets of [first day, end]: settled days from the cache, the rest read.

        `end` is the window's end on the trader's clock; `wall` (the wall clock) only ages
        the cache. Days before yesterday are read once and kept (rows land within seconds of
        their time; yesterday is re-read for rows that cross midnight late), and the kept
        days are dropped every CACHE_S in case a reconciliation back-filled old rows, or at
        once when a trader's clock goes back (a replay restarted). So a refresh reads about
        two days of rows, however many millions the store holds.
        """
        settled = int(end // DAY) - 1
        with self._cache_lock:
            if wall - self._cache_at > CACHE_S or wall < self._cache_at:
                self._cache, self._cache_at, self._ends = {}, wall, {}
            if end < self._ends.get((kind, trader), end):
                self._cache.pop((kind, trader), None)
            self._ends[(kind, trader)] = end
            kept = {d: b for d, b in self._cache.get((kind, trader), {}).items()
                    if first <= d < settled}
        missing = [d for d in range(first, settled) if d not in kept]
        if missing:
            for b in read(missing[0] * DAY, settled * DAY):
                kept[b.day] = b
            for d in missing:  # days without rows are known too
                kept.setdefault(d, empty(d))
        with self._cache_lock:
            self._cache[(kind, trader)] = kept
        return [*kept.values(), *read(max(settled, first) * DAY, end + 1e-6)]

    def _execution(self, st: Store, trader: views.TraderView, end: float,
                   wall: float) -> metrics.ExecutionStats:
        """Maker ratio and fees over the last EXECUTION_WINDOW_S days and today (to `end`)."""
        first = int(end // DAY) - int(EXECUTION_WINDOW_S // DAY)
        buckets = self._days("fills", trader.name, first, end, wall,
                             lambda a, b: period.fill_buckets(st, trader.name, a, b),
                             lambda d: period.FillBucket(d, 0, 0, "0"))
        return metrics.execution_from_buckets(trader.name, buckets, trader.fee_tier, first * DAY)

    def _conviction(self, st: Store, trader: str, end: float,
                    wall: float) -> metrics.ConvictionStats:
        """Pass rate, score and trades per day over the last CONVICTION_WINDOW_S days."""
        first = int(end // DAY) - int(CONVICTION_WINDOW_S // DAY)
        buckets = self._days("decisions", trader, first, end, wall,
                             lambda a, b: period.decision_buckets(st, trader, a, b),
                             lambda d: period.DecisionBucket(d, 0, 0, 0.0, d * DAY))
        return metrics.conviction_from_buckets(trader, buckets, first * DAY, end)



def on_increments(rows: Any, incs: dict[tuple[str, str], str]) -> tuple[Any, ...]:
    """Rows (positions, fills, round trips) with `qty` down to their trader's recorded product
    increment (8 decimals where none is recorded), the type of each `qty` kept."""
    out = []
    for r in rows:
        text = quantity(r.qty, increment_of(incs, r.trader, r.ticker))
        if text is not None:
            r = replace(r, qty=Decimal(text) if isinstance(r.qty, Decimal) else text)
        out.append(r)
    return tuple(out)

def window_end(wall: float, mode: str, clock: float | None) -> float:
    """Where a trader's windows end: the wall clock, or the trader's own clock for a replay.

    Live traders always use the wall clock (a quiet live trader's windows still move on).
    """
    if mode == "live" or clock is None or clock >= wall - REPLAY_LAG_S:
        return wall
    return clock


# -- the loader in its own process ----------------------------------------------------------
def _send(stream: Any, obj: object) -> None:
    import pickle
    import struct

    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<I", len(data)) + data)
    stream.flush()


def _recv(stream: Any) -> Any:
    import pickle
    import struct

    head = stream.read(4)
    if len(head) < 4:
        raise EOFError("loader process closed its pipe")
    (n,) = struct.unpack("<I", head)
    return pickle.loads(stream.read(n))


def child_main() -> None:
    """`python -m console.loader_child`: serve load requests on stdin/stdout until EOF."""
    import sys

    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the pipe
    path, page_rows, busy_timeout_s, stale_after_s, logs_dir = _recv(inp)
    now = [0.0]
    loader = Loader(path, page_rows=page_rows, busy_timeout_s=busy_timeout_s,
                    clock=lambda: now[0], stale_after_s=stale_after_s, logs_dir=logs_dir)
    while True:
        try:
            at, study, pending = _recv(inp)
        except EOFError:
            return
        now[0] = at
        _send(out, loader.load(study, pending))


class ProcessLoader:
    """The Loader run in a child process, so its Python work never holds the console's GIL.

    With the loader in a thread, the UI thread waits for the GIL whenever the loader runs,
    and on a busy machine that wait reaches tens of milliseconds. Snapshots are frozen
    dataclasses and cross the pipe as pickles. `store()` (for the rare command insert and
    gate check) stays in this process.
    """

    def __init__(self, path: str | Path, *, page_rows: int = 500, busy_timeout_s: float = 10.0,
                 clock: Callable[[], float], stale_after_s: float = 10.0,
                 logs_dir: str | Path | None = None) -> None:
        self.path = Path(path)
        self.clock = clock
        self._args = (str(path), page_rows, busy_timeout_s, stale_after_s,
                      None if logs_dir is None else str(logs_dir))
        self._local = Loader(path, page_rows=page_rows, busy_timeout_s=busy_timeout_s,
                             clock=clock)
        self._proc: Any = None
        self._lock = threading.Lock()
        # Start the child now: its imports overlap the app's start-up (first paint).
        with contextlib.suppress(OSError), self._lock:
            self._child()

    def _child(self) -> Any:
        import os
        import subprocess
        import sys

        if self._proc is None or self._proc.poll() is not None:
            # The child must import this same code base, wherever the console was started.
            root = str(Path(__file__).resolve().parents[1])
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                [root, *filter(None, [os.environ.get("PYTHONPATH")])])}
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "console.loader_child"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True, env=env)
            _send(self._proc.stdin, self._args)
        return self._proc

    def load(self, study_name: str | None = None, pending: tuple[int, ...] = ()) -> Snapshot:
        now = self.clock()
        with self._lock:  # one request in flight at a time
            try:
                proc = self._child()
                _send(proc.stdin, (now, study_name, pending))
                snap: Snapshot = _recv(proc.stdout)
                return snap
            except Exception as e:  # a dead or confused child: report, restart next time
                self._stop()
                return Snapshot(at=now, error=f"console loader process failed ({e}); "
                                "restarting it", store_path=str(self.path))

    def store(self) -> Store:
        return self._local.store()

    def _stop(self) -> None:
        import subprocess

        proc, self._proc = self._proc, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                with contextlib.suppress(OSError):
                    stream.close()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:  # a child that ignores its closed stdin
                proc.kill()
                proc.wait()

    def close(self) -> None:
        self._local.close()
        with self._lock:
            self._stop()

