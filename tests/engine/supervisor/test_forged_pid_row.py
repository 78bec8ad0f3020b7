"""A pid in a `processes` row is a claim: the supervisor signals only its own children.

A supervisor adopts every row whose (pid, create_time) matches a live process, and then
stops, kills or watchdogs it by process group. Both numbers of any process on the box are
readable in /proc, so a row written with those of a process that is not Cappuccino's
(here a plain `sleep` in its own session, standing in for sshd or a database) must not be
adopted: the supervisor, often root, would SIGTERM/SIGKILL it. A child of the supervisor
carries its process name in its environment (CAPPUCCINO_PROCESS_NAME), which a row cannot
forge (the real adoption after a SIGKILL: test_supervisor.py).
"""

from __future__ import annotations

import json
import subprocess
import time

import psutil

from store.db import now


def test_a_forged_pid_row_is_not_adopted_and_its_process_is_never_signalled(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness()
    victim = subprocess.Popen(["sleep", "600"], start_new_session=True)
    h.extra_pids.append(victim.pid)
    try:
        ct = psutil.Process(victim.pid).create_time()
        h.supervise(production=True)
        with h.store() as s, s.write():
            # desired stopped: a supervisor that adopts it stops it at once (TERM, then KILL)
            s.conn.execute(
                "INSERT INTO processes (name, kind, argv, desired, state, pid, create_time, "
                "started_at, created_at, updated_at) VALUES ('ghost', 'monitor', ?, "
                "'stopped', 'RUNNING', ?, ?, ?, ?, ?)",
                (json.dumps(["monitor"]), victim.pid, ct, now(), now(), now()))
        h.wait_for(lambda: h.process("ghost").pid is None, what="the forged row settled")
        time.sleep(2 * h.cfg.supervisor.stop_grace_s + 1)  # past any TERM -> KILL escalation
        assert victim.poll() is None, f"the supervisor signalled pid {victim.pid}"
        assert h.process("ghost").state in ("STOPPED", "EXITED"), h.process("ghost")
        # and `stop ghost` / `kill ghost` reach nothing either
        assert h.command("kill", "ghost").state in ("done", "failed")
        time.sleep(1)
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()

