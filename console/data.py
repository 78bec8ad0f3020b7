"""The console's data loader: one refresh of every pane's data, as one frozen Snapshot.

It runs in a worker thread with its own Store; the UI thread only renders the Snapshot.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.procinfo import ProcStats, last_line, psutil_stats
from store import views
from store.db import Store, StoreError

DAY = 86400.0
CONVICTION_WINDOW_S = 7 * DAY
EXECUTION_WINDOW_S = 30 * DAY
EQUITY_POINTS = 240
GPU_HISTORY = 60
# The trials table shows the newest attempts only: rebuilding a table of 500 rows when a
# trial starts costs a frame or two on the UI thread; `cappuccino export attempts` has all.
ATTEMPT_ROWS = 200


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
    conviction: tuple[views.ConvictionStats, ...] = ()
    blocked: tuple[views.DecisionView, ...] = ()
    execution: tuple[views.ExecutionStats, ...] = ()
    alerts: tuple[views.AlertView, ...] = ()
    levels: tuple[views.AlertView, ...] = ()
    gates: tuple[views.PromotionView, ...] = ()
    finished: tuple[views.CommandView, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)


StatsFn = Callable[[int | None, float | None], ProcStats]


class Loader:
    """Builds Snapshots from the store at `path`. Keeps one Store per thread that calls it."""

    def __init__(self, path: str | Path, *, page_rows: int = 500, busy_timeout_s: float = 10.0,
                 clock: Callable[[], float], proc_stats: StatsFn = psutil_stats,
                 log_line: Callable[[str | None], str] = last_line) -> None:
        self.path = Path(path)
        self.page_rows = page_rows
        self.busy_timeout_s = busy_timeout_s
        self.clock = clock
        self.proc_stats = proc_stats
        self.log_line = log_line
        self._local = threading.local()
        # Per trader, the fill buckets of complete past days (they do not change).
        self._days: dict[str, dict[int, views.FillBucket]] = {}
        self._days_lock = threading.Lock()

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
        now = self.clock()
        try:
            st = self.store()
        except StoreError as e:
            return Snapshot(at=now, error=str(e))
        try:
            return self._load(st, now, study_name, pending)
        except Exception as e:  # a busy or broken store shows as a status line, never a crash
            self.close()
            return Snapshot(at=now, error=f"{self.path}: {type(e).__name__}: {e}")

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
        study = views.study(st, study_name)
        counts = attempts = running = None
        if study is not None:
            counts = views.trial_counts(st, study.name)
            attempts = views.attempts_page(st, study.name, limit=min(page, ATTEMPT_ROWS))
            running = views.running_attempts(st, study.name, limit=16)
        lap("trials")
        procs = []
        for p in views.processes(st, limit=page):
            alive = p.state in ("RUNNING", "STARTING", "STOPPING")
            stats = self.proc_stats(p.pid, p.create_time) if alive else ProcStats(None, None)
            procs.append(ProcessInfo(
                name=p.name, kind=p.kind, state=p.state, desired=p.desired,
                pid=p.pid if alive else None, restarts=p.restarts,
                uptime_s=(now - p.started_at) if alive and p.started_at else None,
                cpu_pct=stats.cpu_pct, rss_mb=stats.rss_mb, last_log=self.log_line(p.log_path),
                log_path=p.log_path, last_error=p.last_error))
        lap("processes")
        gpus = views.gpu_latest(st)
        hist = tuple(tuple(s.mem_used_mb for s in views.gpu_history(st, g.gpu, GPU_HISTORY))
                     for g in gpus)
        gprocs = views.gpu_processes(st)
        system = views.system_latest(st)
        lap("gpu")
        traders = views.traders(st)
        positions = views.positions(st, limit=page)
        equity = tuple((tr.name, tuple(views.equity_series(st, tr.name, EQUITY_POINTS)))
                       for tr in traders)
        lap("positions")
        conviction = tuple(views.conviction_stats(st, tr.name, now - CONVICTION_WINDOW_S, now)
                           for tr in traders)
        blocked = views.blocked_decisions(st, limit=50)
        lap("conviction")
        execution = tuple(self._execution(st, tr, now) for tr in traders)
        lap("execution")
        alerts = views.alerts(st, limit=100)
        levels = views.latest_alert_per_trader(st)
        gates = views.latest_promotion_per_trader(st)
        finished = views.finished_commands(st, list(pending))
        lap("alerts")
        return Snapshot(
            at=now, study=study, counts=counts, attempts=tuple(attempts or ()),
            running=tuple(running or ()), processes=tuple(procs), gpus=tuple(gpus),
            gpu_history=hist, gpu_procs=tuple(gprocs), system=system, traders=tuple(traders),
            positions=tuple(positions), equity=equity, conviction=conviction,
            blocked=tuple(blocked), execution=execution, alerts=tuple(alerts),
            levels=tuple(levels), gates=tuple(gates), finished=tuple(finished), timings_ms=t)

    def _execution(self, st: Store, trader: views.TraderView, now: float) -> views.ExecutionStats:
        """Maker ratio and fees over the last EXECUTION_WINDOW_S days and today.

        Complete days are read once and kept; each refresh reads only today's fills, so a
        refresh stays cheap with millions of fills.
        """
        today = int(now // DAY)
        first = today - int(EXECUTION_WINDOW_S // DAY)
        with self._days_lock:
            kept = {d: b for d, b in self._days.get(trader.name, {}).items() if d >= first}
        missing = [d for d in range(first, today) if d not in kept]
        if missing:
            for b in views.fill_buckets(st, trader.name, missing[0] * DAY, today * DAY):
                kept[b.day] = b
            for d in missing:  # days without fills are known too
                kept.setdefault(d, views.FillBucket(d, 0, 0, "0"))
        with self._days_lock:
            self._days[trader.name] = kept
        current = views.fill_buckets(st, trader.name, today * DAY, now + 1)
        return views.execution_from_buckets(trader.name, [*kept.values(), *current],
                                            trader.fee_tier, first * DAY)


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
    path, page_rows, busy_timeout_s = _recv(inp)
    now = [0.0]
    loader = Loader(path, page_rows=page_rows, busy_timeout_s=busy_timeout_s,
                    clock=lambda: now[0])
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
                 clock: Callable[[], float]) -> None:
        self.path = Path(path)
        self.clock = clock
        self._args = (str(path), page_rows, busy_timeout_s)
        self._local = Loader(path, page_rows=page_rows, busy_timeout_s=busy_timeout_s,
                             clock=clock)
        self._proc: Any = None
        self._lock = threading.Lock()

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
                                "restarting it")

    def store(self) -> Store:
        return self._local.store()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                with contextlib.suppress(OSError):
                    stream.close()
            try:
                proc.wait(timeout=2)
            except Exception:
                proc.kill()
                proc.wait()

    def close(self) -> None:
        self._local.close()
        with self._lock:
            self._stop()

