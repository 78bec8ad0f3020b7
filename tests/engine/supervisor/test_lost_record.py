"""A row that claims a running process nobody tracks (its exit was never recorded, as after
a full disk in issue 10) is settled by the supervisor and restarted by the policy, instead
of staying RUNNING with a stale heartbeat forever."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from engine.supervisor import spawn
from engine.supervisor.supervisor import Supervisor
from store.db import Store
from store.processes import get_process, upsert_process


def test_untracked_running_row_is_settled_and_restarted(harness) -> None:
    h = harness()
    h.supervise()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    created = psutil.Process().create_time()  # any time: the pid is gone anyway
    t = time.time()
    with h.store() as s, s.write():
        s.conn.execute(
            "INSERT INTO processes (name, kind, argv, desired, state, pid, create_time, "
            "started_at, heartbeat_at, created_at, updated_at) VALUES "
            "('sampler', 'sampler', ?, 'running', 'RUNNING', ?, ?, ?, ?, ?, ?)",
            (json.dumps(["sample"]), dead.pid, created, t - 600, t - 600, t, t))
    h.wait_for(lambda: (r := h.process("sampler")).state == "RUNNING"
               and r.pid not in (None, dead.pid), timeout=60, what="the sampler restarted")
    row = h.process("sampler")
    assert row.pid != dead.pid and psutil.pid_exists(row.pid)
    assert f"sampler (pid {dead.pid}) ended; its exit had not been recorded" in h.output()



SLEEP = [sys.executable, "-c", "import time; time.sleep(600)"]
HOLD_LOCK = ("import sqlite3, sys, time\n"
             "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
             "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(600)")


@pytest.fixture
def lost_start(harness, monkeypatch) -> Iterator[tuple[Store, Supervisor, int]]:
    """A child killed, its exit recorded, its restart spawned while another process holds the
    store's write lock (as a full disk refuses writes): the restart's record was refused.
    Yields (store, supervisor, first pid) with the lock released and nothing recorded since."""
    monkeypatch.setitem(spawn.CUSTOM_KINDS, "exec", list)  # as exec_supervisor registers it
    h = harness()
    with Store(h.cfg.store.path, busy_timeout_s=0.2) as s:
        upsert_process(s, "job", "exec", SLEEP)
        sup = Supervisor(h.cfg, s)
        holder = None
        try:
            sup.tick()
            first = get_process(s, "job")
            assert first is not None and first.pid and first.restarts == 0
            _kill(sup, "job")
            sup.reap()  # the exit is recorded: BACKOFF, restart due in backoff_initial_s
            row = get_process(s, "job")
            assert row is not None and row.state == "BACKOFF" and row.next_start_at
            while time.time() <= row.next_start_at:
                time.sleep(0.05)
            holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, h.cfg.store.path],
                                      stdout=subprocess.PIPE)
            assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
            sup.tick()
            second = sup.children.get("job")
            assert second is not None and second.pid != first.pid  # spawned
            lost = get_process(s, "job")
            assert lost is not None and lost.pid is None and lost.restarts == 0  # not recorded
            holder.kill()
            holder.wait()
            yield s, sup, first.pid
        finally:
            if holder is not None:
                holder.kill()
                holder.wait()
            for name in list(sup.children):
                _kill(sup, name)


def _kill(sup: Supervisor, name: str) -> None:
    child = sup.children[name]
    with contextlib.suppress(OSError):
        os.killpg(child.pid, signal.SIGKILL)
    if child.popen is not None:
        child.popen.wait(timeout=30)


def test_restart_whose_start_record_was_lost_still_counts(lost_start) -> None:
    """Recorded late by reconcile, the restart keeps its count: the row once said a new pid
    and restarts 0 (the flake of test_disk_full under load)."""
    s, sup, _ = lost_start
    second = sup.children["job"]
    sup.tick()  # the store takes writes again: reconcile records the start
    row = get_process(s, "job")
    assert row is not None and row.pid == second.pid and row.state == "RUNNING"
    assert row.restarts == 1 and row.started_at == second.started_at


def test_exit_of_a_restart_whose_start_record_was_lost_counts_it(lost_start) -> None:
    """The restart ended before its start could be recorded: its exit record counts it, and
    the next restart counts on from there."""
    s, sup, first_pid = lost_start
    _kill(sup, "job")
    sup.reap()
    row = get_process(s, "job")
    assert row is not None and row.state == "BACKOFF" and row.pid is None
    assert row.restarts == 1
    deadline = time.monotonic() + 30
    while (get_process(s, "job") or row).state != "RUNNING" and time.monotonic() < deadline:
        sup.tick()
        time.sleep(0.05)
    row = get_process(s, "job")
    assert row is not None and row.state == "RUNNING" and row.pid not in (None, first_pid)
    assert row.restarts == 2
