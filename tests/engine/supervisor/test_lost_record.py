"""A row that claims a running process nobody tracks (its exit was never recorded, as after
a full disk in issue 10) is settled by the supervisor and restarted by the policy, instead
of staying RUNNING with a stale heartbeat forever."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import psutil


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
