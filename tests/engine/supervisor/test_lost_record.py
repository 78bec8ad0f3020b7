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

import psutil

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


def test_restart_whose_start_record_was_lost_still_counts(harness, monkeypatch) -> None:
    """A restart spawned while the store refused writes is recorded later (reconcile) with
    its restart count: the row once said pid N, restarts 0 after a restart (the flake of
    test_disk_full under load)."""
    monkeypatch.setitem(spawn.CUSTOM_KINDS, "exec", list)  # as exec_supervisor registers it
    h = harness()
    holder = None
    with Store(h.cfg.store.path, busy_timeout_s=0.2) as s:
        upsert_process(s, "job", "exec", [sys.executable, "-c", "import time; time.sleep(600)"])
        sup = Supervisor(h.cfg, s)
        try:
            sup.tick()
            first = get_process(s, "job")
            assert first is not None and first.pid and first.restarts == 0
            os.killpg(first.pid, signal.SIGKILL)
            popen = sup.children["job"].popen
            assert popen is not None
            popen.wait(timeout=30)
            sup.reap()  # the exit is recorded: BACKOFF, restart due in backoff_initial_s
            row = get_process(s, "job")
            assert row is not None and row.state == "BACKOFF" and row.next_start_at
            while time.time() <= row.next_start_at:
                time.sleep(0.05)
            # Another process holds the store's write lock (as a full disk refuses writes):
            # the restart is spawned, its record is refused.
            holder = subprocess.Popen(
                [sys.executable, "-c", "import sqlite3, sys, time\n"
                 "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                 "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(600)",
                 h.cfg.store.path], stdout=subprocess.PIPE)
            assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
            sup.tick()
            second = sup.children.get("job")
            assert second is not None and second.pid != first.pid
            lost = get_process(s, "job")
            assert lost is not None and lost.pid is None and lost.restarts == 0  # not recorded
            holder.kill()
            holder.wait()
            sup.tick()  # the store takes writes again: reconcile records the start
            row = get_process(s, "job")
            assert row is not None and row.pid == second.pid and row.state == "RUNNING"
            assert row.restarts == 1
            assert row.started_at == second.started_at
        finally:
            if holder is not None:
                holder.kill()
                holder.wait()
            for child in sup.children.values():
                with contextlib.suppress(OSError):
                    os.killpg(child.pid, signal.SIGKILL)
                if child.popen is not None:
                    child.popen.wait(timeout=30)
