"""Everything at once on one store (issue 10's soak): the supervisor with the monitor, the
sampler and the notifier, a sim trader, counting writers, CLI processes that open and close
the store in a loop, halt/resume/restart commands, and SIGKILLs of the supervisor and the
writers. At the end: `PRAGMA integrity_check` is ok, every row a writer was told was
committed is there, the trader's fills equal its exchange file, no process row is left
STOPPING, and `-wal`/`-shm` (and this process's SQLite locks) existed in every sample.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from engine.config import Config
from engine.soak.fills import compare_fills
from engine.soak.probe import WalProbe
from engine.soak.workdir import ROOT, TICKERS, child_env, make_workdir, wait_for
from engine.soak.writer import PREFIX, key
from engine.supervisor import lock
from engine.supervisor.commands import Trade
from store.db import Store, StoreError
from store.fixtures import command_count, kv_keys, trader_exists
from store.processes import list_processes, upsert_process
from store.promotions import insert_promotion

STORE_BUSY = (StoreError, sqlite3.Error)

EXTRA = """
[supervisor]
poll_s = 0.2
heartbeat_s = 0.5
stop_grace_s = 5
backoff_initial_s = 0.3
backoff_max_s = 2
stable_uptime_s = 5
max_quick_restarts = 1000
stale_heartbeats = 10
[monitor]
interval_s = 2
[sampler]
interval_s = 0.5
flush_s = 1
[notify]
poll_s = 0.5
"""
TRADER = "soak"
WRITERS = 2


@dataclass(frozen=True)
class SoakReport:
    findings: tuple[str, ...]
    counts: tuple[tuple[str, int], ...]  # what was done and checked, for the operator

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass
class _Run:
    root: Path
    cfg_path: Path
    store_path: Path
    say: Callable[[str], None]
    stop: threading.Event = field(default_factory=threading.Event)
    findings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    acked: dict[str, set[int]] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n

    def find(self, what: str) -> None:
        with self.lock:
            if len(self.findings) < 50:
                self.findings.append(what)

    # -- processes ----------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "engine.cli.main", "--config",
                               str(self.cfg_path), *args], cwd=ROOT, env=child_env(),
                              capture_output=True, text=True, timeout=timeout)

    def supervise(self) -> None:
        log = (self.root / "var" / "logs" / "supervisor.log").open("ab")
        with log:
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "engine.cli.main", "--config", str(self.cfg_path),
                 "supervise"], cwd=ROOT, env=child_env(), stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, start_new_session=True))

    def supervisor_pid(self) -> int | None:
        return lock.holder(lock.lock_path(self.store_path)) or None


def _writer(run: _Run, wid: str) -> subprocess.Popen[bytes]:
    p = subprocess.Popen([sys.executable, "-m", "engine.soak.writer", str(run.store_path), wid],
                         cwd=ROOT, env=child_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    run.acked[wid] = set()

    def read() -> None:
        assert p.stdout is not None
        for line in p.stdout:
            with contextlib.suppress(ValueError):
                run.acked[wid].add(int(line))

    threading.Thread(target=read, daemon=True, name=f"writer-{wid}").start()
    return p


def _loop(run: _Run, every_s: float, fn: Callable[[], None]) -> threading.Thread:
    def body() -> None:
        while not run.stop.is_set():
            try:
                fn()
            except Exception as e:  # a soak step that breaks is a finding, not a crash
                run.find(f"{getattr(fn, '__name__', 'step')}: {type(e).__name__}: {e}")
            run.stop.wait(every_s)

    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t


def run_mixed(root: Path, duration_s: float, seed: int = 1,
              say: Callable[[str], None] = lambda _: None) -> SoakReport:
    cfg = make_workdir(root, EXTRA)
    (root / "var" / "logs").mkdir(parents=True, exist_ok=True)
    run = _Run(root, root / "cappuccino.toml", Path(cfg.store.path), say)
    rng = random.Random(seed)
    run.supervise()
    if not wait_for(lambda: run.store_path.exists() and run.store_path.stat().st_size >= 100
                    and run.supervisor_pid() is not None, 120):
        return SoakReport(("the supervisor did not start",), ())
    # This process holds no connection while the others run (its own locks would keep the
    # WAL in place whatever they do): it opens and closes the store like any CLI.
    writers: dict[str, subprocess.Popen[bytes]] = {}

    def connected() -> list[int]:  # processes that hold a connection all along
        pids = [p.pid for p in writers.values() if p.poll() is None]
        # a store busy under the soak's own load: this probe looks again next time
        with contextlib.suppress(*STORE_BUSY), Store(run.store_path, check=False) as store:
            pids += [r.pid for r in list_processes(store) if r.pid and r.state == "RUNNING"]
        return [*pids, *filter(None, [run.supervisor_pid()])]

    probe = WalProbe(run.store_path, connected)
    try:
        with Store(run.store_path) as store:
            declare_trader(store, cfg, root / "model")
        if not wait_for(lambda: _registered(run, TRADER), 120):
            run.find("the sim trader never registered")
        probe.start()
        for i in range(WRITERS):
            writers[f"w{i}.0"] = _writer(run, f"w{i}.0")
        threads = _start_loops(run, rng, writers)
        deadline = time.monotonic() + duration_s
        while time.monotonic() < deadline and not run.stop.is_set():
            time.sleep(1)
            say(f"{duration_s - (deadline - time.monotonic()):.0f}/{duration_s:.0f}s "
                + " ".join(f"{k}={v}" for k, v in sorted(run.counts.items())))
        run.stop.set()
        for t in threads:
            t.join(180)
        probe.stop()  # from here on everything stops: the last close removes -wal, rightly
        _finish(run, writers)
        run.count("wal_samples", probe.samples)
        for m in probe.missing:
            run.find(f"WAL probe: {m}")
        with Store(run.store_path) as store:
            _check(run, store, cfg)
    finally:
        probe.stop()
        _cleanup(run, writers)
    return SoakReport(tuple(run.findings), tuple(sorted(run.counts.items())))


def _start_loops(run: _Run, rng: random.Random,
                 writers: dict[str, subprocess.Popen[bytes]]) -> list[threading.Thread]:
    def readers() -> None:  # each a process that opens and closes the store
        for args in (("status", "--json"), ("ps",)):
            out = run.cli(*args)
            run.count("cli_reads")
            if out.returncode != 0:
                run.find(f"`cappuccino {' '.join(args)}` exit {out.returncode}: "
                         f"{out.stderr.strip()[-300:]}")

    def commands() -> None:
        action = rng.choice(("halt", "resume", "restart"))
        args = ("restart", "sampler") if action == "restart" else (action, TRADER)
        out = run.cli(*args)
        run.count(f"cmd_{action}")
        if out.returncode == 0:
            run.count(f"cmd_{action}_ok")
        elif action != "restart":  # a restart may race a supervisor kill; halt never may
            run.find(f"`cappuccino {' '.join(args)}` exit {out.returncode}: "
                     f"{out.stderr.strip()[-300:]}")

    def kill_supervisor() -> None:
        pid = run.supervisor_pid()
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            run.count("supervisor_kills")
            run.stop.wait(1.0)
        if run.supervisor_pid() is None:
            run.supervise()

    def kill_writer() -> None:
        wid = rng.choice(sorted(w for w, p in writers.items() if p.poll() is None))
        writers[wid].kill()
        writers[wid].wait(30)
        run.count("writer_kills")
        base, gen = wid.split(".")
        new = f"{base}.{int(gen) + 1}"
        writers[new] = _writer(run, new)

    return [_loop(run, 0.2, readers), _loop(run, 2.0, commands),
            _loop(run, 12.0, kill_supervisor), _loop(run, 5.0, kill_writer)]


def declare_trader(store: Store, cfg: Config, model: Path, name: str = TRADER) -> None:
    """The soak's sim trader as a promotion declares one: the exact argv the supervisor
    builds, backed by a recorded (forced) paper promotion of it, for the supervisor starts
    no trader row without one. The model is copied inside [paths] models, where the
    supervisor loads models from."""
    inside = Path(cfg.paths.models) / name
    if not inside.exists():
        shutil.copytree(model, inside)
    t = Trade(name=name, model=str(inside), broker="sim", tickers=list(TICKERS),
              timeframe=cfg.trader.timeframe, capital=Decimal(str(cfg.trader.capital)))
    args = t.model_dump(mode="json", exclude_none=True)
    insert_promotion(store, "paper", "soak model", [], False, trader=name, forced=True,
                     reason="the soak's own sim trader (no study)", capital=str(t.capital),
                     trade_args=args)
    upsert_process(store, t.process_name, "trader", t.argv())


def _registered(run: _Run, name: str) -> bool:
    with Store(run.store_path, check=False) as store:
        return trader_exists(store, name)


def _finish(run: _Run, writers: dict[str, subprocess.Popen[bytes]]) -> None:
    """Stop everything the way an operator would, and the writers with SIGKILL."""
    for p in writers.values():
        if p.poll() is None:
            p.kill()
            p.wait(30)
    time.sleep(0.5)  # the readers threads see the last acknowledgements
    out = run.cli("stop", "all", timeout=300)
    if out.returncode != 0:
        run.find(f"`cappuccino stop all` exit {out.returncode}: {out.stderr.strip()[-300:]}")
    pid = run.supervisor_pid()
    if pid:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
        wait_for(lambda: run.supervisor_pid() is None, 30)


def _check(run: _Run, store: Store, cfg: object) -> None:
    check = store.integrity()
    if check != "ok":
        run.find(f"integrity_check: {check}")
    have = kv_keys(store, PREFIX)
    acked = {key(w, n) for w, ns in run.acked.items() for n in ns}
    run.count("writer_rows_acked", len(acked))
    lost = acked - have
    if lost:
        run.find(f"{len(lost)} of {len(acked)} committed writer rows missing, e.g. "
                 f"{sorted(lost)[:3]}")
    cmds = command_count(store, "cli", TRADER, ("halt_all", "resume"))
    done = run.counts.get("cmd_halt_ok", 0) + run.counts.get("cmd_resume_ok", 0)
    if cmds < done:
        run.find(f"{done} halt/resume commands succeeded, {cmds} rows in the audit log")
    run_dir = Path(getattr(getattr(cfg, "paths"), "run"))  # noqa: B009
    found, fills = compare_fills(store, run_dir, (TRADER,))
    run.count("fills_compared", fills)
    run.findings.extend(found)
    stuck = [f"{r.name} {r.state}" for r in list_processes(store)
             if r.state in ("STOPPING", "STARTING", "RUNNING")]
    if stuck:
        run.find(f"after `stop all`: {', '.join(stuck)}")
    text = (run.root / "var" / "logs" / "supervisor.log").read_text(errors="replace")
    if "Traceback" in text:
        at = text.index("Traceback")
        run.find(f"supervisor.log holds a traceback: {text[at:at + 600]}")


def _cleanup(run: _Run, writers: dict[str, subprocess.Popen[bytes]]) -> None:
    run.stop.set()
    groups = {p.pid for p in run.procs}
    # a store too busy to list: the known process groups still get killed below
    with contextlib.suppress(*STORE_BUSY), Store(run.store_path, check=False) as store:
        groups |= {r.pid for r in list_processes(store) if r.pid}
    pid = run.supervisor_pid()
    if pid:
        groups.add(pid)
    for pgid in groups:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
    for p in [*run.procs, *writers.values()]:
        with contextlib.suppress(OSError):
            p.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):  # stuck past SIGKILL: leave it
            p.wait(10)
