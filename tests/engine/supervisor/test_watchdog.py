"""The heartbeat watchdog: a hung child (alive, not beating) is stopped and restarted."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from engine.config import ConfigError, load_config
from engine.config.schema import SupervisorSection
from engine.supervisor import watchdog
from engine.supervisor.spawn import same_process

# Beats through the store (like engine.runtime.Heartbeat) `beats` times, then hangs.
BEATER = """
import os, sys, time
from store.db import Store
from store.processes import heartbeat
store = Store(sys.argv[1], busy_timeout_s=10, check=False)
name = os.environ["CAPPUCCINO_PROCESS_NAME"]
beats = int(sys.argv[2])
print("beating", os.getpid(), flush=True)
for i in range(beats):
    heartbeat(store, name)
    time.sleep(0.1)
print("hung", flush=True)
time.sleep(600)
"""


def test_overdue_judges_the_last_beat_or_the_start() -> None:
    cfg = SupervisorSection(watchdog_s=10.0)
    # beating recently: fine; silent past the limit: overdue by how long
    assert watchdog.overdue(cfg, "trader", 95.0, 50.0, 100.0) is None
    assert watchdog.overdue(cfg, "trader", 85.0, 50.0, 100.0) == 15.0
    # never beaten: judged from its start (not hung before watchdog_s of uptime)
    assert watchdog.overdue(cfg, "monitor", None, 95.0, 100.0) is None
    assert watchdog.overdue(cfg, "monitor", None, 80.0, 100.0) == 20.0
    # a beat from an earlier run of the row does not count for a fresh start
    assert watchdog.overdue(cfg, "sampler", 10.0, 95.0, 100.0) is None
    assert watchdog.overdue(cfg, "sampler", 10.0, 80.0, 100.0) == 20.0
    # trials (the study driver's), unwatched kinds, and watchdog_s = 0 are never judged
    assert watchdog.overdue(cfg, "trial", None, 0.0, 100.0) is None
    assert watchdog.overdue(cfg, "exec", None, 0.0, 100.0) is None
    assert watchdog.overdue(SupervisorSection(watchdog_s=0), "trader", None, 0.0, 1e9) is None
    assert watchdog.reason(15.4) == "no heartbeat for 15 s"


def test_watchdog_config_is_validated(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[supervisor]\nheartbeat_s = 2\nwatchdog_s = 5\n")
    with pytest.raises(ConfigError, match="watchdog_s"):
        load_config(bad, environ={})
    bad.write_text('[supervisor]\nwatchdog_kinds = ["trial"]\n')
    with pytest.raises(ConfigError, match="watchdog_kinds"):
        load_config(bad, environ={})
    ok = tmp_path / "ok.toml"
    ok.write_text("[supervisor]\nwatchdog_s = 0\n")
    assert load_config(ok, environ={}).supervisor.watchdog_s == 0


def test_hung_children_are_restarted_and_a_beating_one_is_left_alone(harness, script) -> None:
    # FAST: heartbeat_s 0.2, stop_grace_s 1, stable_uptime_s 3; these keys join [supervisor]
    # 4 s: a loaded machine can take seconds to start Python before a child's first beat
    h = harness('watchdog_s = 4.0\nwatchdog_kinds = ["exec"]\n')
    h.supervise()
    beater = script("beater.py", BEATER)
    db = h.cfg.store.path
    children = {"hangs": [*beater, db, "8"],  # beats ~0.8 s, then hangs
                "silent": [*beater, db, "0"],  # never beats: judged from its start
                "steady": [*beater, db, "100000"]}  # beats throughout
    first = {}
    for name, argv in children.items():
        first[name] = h.start_exec(name, argv)

    for name in ("hangs", "silent"):
        h.wait_for(lambda n=name: h.process(n).pid not in (None, first[n].pid)
                   and h.process(n).state == "RUNNING", timeout=40, what=f"{name} restarted")
        row = h.process(name)
        # at least once (a loaded machine may judge a slow-starting replacement hung too)
        assert row.restarts >= first[name].restarts + 1 and row.desired == "running"
        assert (row.last_error or "").startswith("no heartbeat for "), row.last_error
        assert not same_process(first[name].pid, first[name].create_time)
    steady = h.process("steady")
    assert (steady.pid, steady.restarts, steady.state) == (first["steady"].pid, 0, "RUNNING")
    with h.store() as s:
        titles = [r["title"] for r in s.query(
            "SELECT title FROM outbox WHERE event = 'process' ORDER BY id")]
    assert "hangs hung" in titles and "silent hung" in titles
    assert not any(t.startswith("steady") for t in titles)


def test_a_wall_clock_step_neither_kills_beating_children_nor_hides_a_hung_one(
        harness, script, tmp_path: Path) -> None:
    """The supervisor's wall clock steps an hour forward, then two hours back (its monotonic
    clock and the children's clocks do not): the watchdog judges beats, not wall times."""
    h = harness('watchdog_s = 4.0\nwatchdog_kinds = ["exec"]\n')
    shift = tmp_path / "clock-shift"
    shift.write_text("0")
    h.supervise(env=dict(os.environ, EXEC_SUPERVISOR_CLOCK_SHIFT=str(shift)))
    beater = script("beater.py", BEATER)
    db = h.cfg.store.path
    steady = h.start_exec("steady", [*beater, db, "100000"])
    h.wait_for(lambda: h.process("steady").heartbeat_at is not None, what="a first beat")
    shift.write_text("3600")  # every beat now reads an hour old by the supervisor's clock
    time.sleep(3 * 4.0)
    row = h.process("steady")
    assert (row.pid, row.restarts, row.last_error) == (steady.pid, 0, None), row.last_error

    shift.write_text("-3600")  # and now an hour in the future
    hangs = h.start_exec("hangs", [*beater, db, "8"])  # beats ~0.8 s, then hangs
    h.wait_for(lambda: h.process("hangs").pid not in (None, hangs.pid), timeout=40,
               what="the hung child restarted")
    assert (h.process("hangs").last_error or "").startswith("no heartbeat for ")
    assert h.process("steady").pid == steady.pid


# Beats while the file argv[2] exists, through a store that may refuse the beat.
PAUSABLE = """
import os, sys, time
from store.db import Store
from store.processes import heartbeat
store = Store(sys.argv[1], busy_timeout_s=0.1, check=False)
name = os.environ["CAPPUCCINO_PROCESS_NAME"]
while True:
    if os.path.exists(sys.argv[2]):
        try:
            heartbeat(store, name)
        except Exception:
            pass
    time.sleep(0.1)
"""


def test_a_store_that_refused_writes_is_no_silence(harness, script, monkeypatch,
                                                    tmp_path: Path) -> None:
    """While the store refuses writes (disk full, a writer holding the lock) nobody can
    beat: a child silent only through that outage is not hung once it ends. It was stopped
    as hung the first tick the store took writes again (every watched child, after an
    outage longer than watchdog_s)."""
    import contextlib
    import signal
    import subprocess
    import sys

    from engine.supervisor import spawn
    from engine.supervisor.supervisor import Supervisor
    from store.db import Store
    from store.processes import get_process, upsert_process

    monkeypatch.setitem(spawn.CUSTOM_KINDS, "exec", list)
    h = harness('watchdog_s = 3.0\nwatchdog_kinds = ["exec"]\n')
    go = tmp_path / "go"
    go.touch()
    with Store(h.cfg.store.path, busy_timeout_s=0.2) as s:
        upsert_process(s, "beater", "exec",
                       script("pausable.py", PAUSABLE) + [h.cfg.store.path, str(go)])
        sup = Supervisor(h.cfg, s)
        holder = None
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not getattr(
                    get_process(s, "beater"), "heartbeat_at", None):
                sup.tick()
                time.sleep(0.05)
            assert get_process(s, "beater").heartbeat_at, "the child never beat"
            holder = subprocess.Popen(
                [sys.executable, "-c", "import sqlite3, sys, time\n"
                 "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                 "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(600)",
                 h.cfg.store.path], stdout=subprocess.PIPE)
            assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
            go.unlink()  # from here on the child does not beat: only the outage is silence
            outage = time.monotonic() + 4.5  # longer than watchdog_s
            while time.monotonic() < outage:
                sup.tick()
                time.sleep(0.05)
            holder.kill()
            holder.wait()
            sup.tick()  # the store takes writes again, well within watchdog_s of the outage
            assert "beater" not in sup.stops, get_process(s, "beater")
            row = get_process(s, "beater")
            assert row is not None and row.state == "RUNNING" and not row.last_error
            # Silent from here on, it IS hung after watchdog_s: the watchdog still works.
            deadline = time.monotonic() + 30
            while "beater" not in sup.stops and time.monotonic() < deadline:
                sup.tick()
                time.sleep(0.05)
            assert "beater" in sup.stops
            assert "no heartbeat" in (get_process(s, "beater").last_error or "")
        finally:
            if holder is not None:
                holder.kill()
                holder.wait()
            for child in sup.children.values():
                with contextlib.suppress(OSError):
                    os.killpg(child.pid, signal.SIGKILL)
                if child.popen is not None:
                    child.popen.wait(timeout=30)
