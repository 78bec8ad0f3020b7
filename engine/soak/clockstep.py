"""The wall clock steps under a running installation (`soak --clock-steps N`): the supervisor
with the monitor, the sampler and the notifier, every process stepped at once an hour forward
and back, N times, as NTP, a resumed VM or `date -s` step a machine's clock.

Each process loads tests/fakes/clockshift (a source checkout): its time.time() is the real
clock plus the seconds one file holds, while its monotonic clock runs on. Findings: a service
the watchdog took for hung (restarted, or `no heartbeat` as its last error), a sampler that
stopped writing, notifications that stopped arriving, a supervisor that stopped beating.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from engine.soak.venues import FakesMissing
from engine.soak.workdir import ROOT, make_workdir, tail, wait_for
from store.db import Store, StoreError
from store.fixtures import system_sample_count
from store.processes import list_processes

SHIM = ROOT / "tests" / "fakes" / "clockshift"
STEP_S = 3600.0
SERVICES = ("monitor", "sampler", "notifier")
EXTRA = """
[supervisor]
poll_s = 0.1
heartbeat_s = 0.5
watchdog_s = 3
stop_grace_s = 3
services = ["monitor", "sampler", "notifier"]
[monitor]
interval_s = 1
[sampler]
interval_s = 0.25
flush_s = 0.5
[notify]
poll_s = 0.1
backoff_initial_s = 0.5
backoff_max_s = 2
summary = "off"
"""


@dataclass(frozen=True)
class ClockRun:
    steps: int
    samples: int
    notifications: int
    findings: tuple[str, ...]


class Receiver:
    """apprise's json:// target on 127.0.0.1: counts the soak's own notifications."""

    def __init__(self) -> None:
        self.count = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with contextlib.suppress(ValueError):
                    if str(json.loads(body).get("title", "")).startswith("clock step"):
                        outer.count += 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/soak"


def _samples(db: Path) -> int:
    with Store(db, create=False, check=False, busy_timeout_s=10) as s:
        return system_sample_count(s)


def run_clock_steps(root: Path, steps: int, seed: int = 5,
                    say: Callable[[str], None] = lambda _: None) -> ClockRun:
    if not (SHIM / "sitecustomize.py").is_file():
        raise FakesMissing("the clock shim tests/fakes/clockshift is missing: run it from a "
                           "source checkout")
    cfg = make_workdir(root, EXTRA)
    shift = root / "clock-shift"
    shift.write_text("0")
    receiver = Receiver()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    env |= {"PYTHONPATH": os.pathsep.join([str(SHIM), str(ROOT)]),
            "CLOCK_SHIFT_FILE": str(shift), "CAPPUCCINO_APPRISE_URLS": receiver.url}
    log = root / "supervise.log"
    db = Path(cfg.store.path)
    found: list[str] = []
    with log.open("ab") as out:
        sup = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--config",
                                str(root / "cappuccino.toml"), "supervise"], cwd=ROOT, env=env,
                               stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                               start_new_session=True)
    try:
        if not wait_for(lambda: db.exists() and _running(db) == set(SERVICES), 120, 0.2):
            return ClockRun(0, 0, 0, (f"the services never all ran:\n{tail(log)}",))
        rng = random.Random(seed)
        from engine.notify.events import emit

        with Store(db, busy_timeout_s=10) as store:
            for k in range(steps):
                time.sleep(rng.uniform(1.0, 4.0))
                shift.write_text(str(STEP_S if k % 2 == 0 else 0.0))
                emit(store, cfg, "process", f"clock step {k + 1}", "soak", "info")
                say(f"soak: clock step {k + 1}/{steps} ({'+1 h' if k % 2 == 0 else 'back'})")
            before = _samples(db)
            time.sleep(3.0)
            shift.write_text(str(STEP_S))  # end an hour off: the writes must go on
            time.sleep(2 * 3.0)
            grown = _samples(db) - before
        if grown < 10:
            found.append(f"the sampler wrote {grown} rows in the 9 s after the last steps")
        if not wait_for(lambda: receiver.count >= steps, 30, 0.2):
            found.append(f"{receiver.count} of {steps} notifications arrived")
        for name, restarts, error in _rows(db):
            if restarts or "no heartbeat" in (error or ""):
                found.append(f"{name}: restarted {restarts} time(s) across clock steps "
                             f"(last error: {error})")
        if sup.poll() is not None:
            found.append(f"the supervisor exited ({sup.returncode}):\n{tail(log)}")
        return ClockRun(steps, grown, receiver.count, tuple(f"clock: {f}" for f in found))
    finally:
        _stop_all(sup, db)
        receiver.server.shutdown()
        receiver.server.server_close()


def _running(db: Path) -> set[str]:
    with Store(db, create=False, check=False, busy_timeout_s=10) as s:
        return {r.name for r in list_processes(s) if r.state == "RUNNING"}


def _rows(db: Path) -> list[tuple[str, int, str | None]]:
    with Store(db, create=False, check=False, busy_timeout_s=10) as s:
        return [(r.name, r.restarts, r.last_error) for r in list_processes(s)]


def _stop_all(sup: subprocess.Popen[bytes], db: Path) -> None:
    """The supervisor first (so it restarts nothing), then its detached children's groups."""
    sup.send_signal(signal.SIGTERM)
    try:
        sup.wait(30)
    except subprocess.TimeoutExpired:
        sup.kill()
        sup.wait(10)
    try:
        with Store(db, create=False, check=False, busy_timeout_s=10) as s:
            pids = [r.pid for r in list_processes(s) if r.pid]
    except (StoreError, sqlite3.Error):  # nothing readable: nothing more to stop
        pids = []
    for pgid in pids:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGTERM)
