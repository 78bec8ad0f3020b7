"""The console/CLI side: probe, start on demand (once), send commands and wait."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine.supervisor import client
from engine.supervisor.lock import holder, lock_path


def test_status_of_a_fresh_store_creates_nothing(harness) -> None:
    h = harness()
    assert client.supervisor_status(h.cfg) == (False, None)
    assert not Path(h.cfg.store.path).exists()


def test_ensure_supervisor_starts_one_detached_and_reuses_it(harness) -> None:
    h = harness()
    pid = client.ensure_supervisor(h.cfg)
    assert holder(lock_path(h.cfg.store.path)) == pid
    assert client.supervisor_status(h.cfg) == (True, pid)
    assert client.ensure_supervisor(h.cfg) == pid  # no second supervisor
    assert "supervising" in (Path(h.cfg.paths.logs) / "supervisor.log").read_text()

    # The production supervisor has no kind that runs an arbitrary program.
    exec_row = client.send_command(h.cfg, "start", "sleepy", {
        "kind": "exec", "argv": [sys.executable, "-c", "import time; time.sleep(600)"]},
        source="console", wait_s=15)
    assert exec_row.state == "failed" and "unknown kind" in (exec_row.result or "")
    row = client.send_command(h.cfg, "start", "sampler", source="console", wait_s=15)
    assert row.state == "done" and row.source == "console", row.result
    assert h.wait_state("sampler", "RUNNING").pid
    stop = client.send_command(h.cfg, "stop", "sampler", wait_s=15)
    assert (stop.state, stop.result) == ("done", "stopped sampler")
    missing = client.send_command(h.cfg, "stop", "nope", wait_s=15)
    assert (missing.state, missing.result) == ("failed",
                                               "no process named 'nope' (processes: sampler)")


def test_ensure_supervisor_reports_a_supervisor_that_cannot_start(harness, tmp_path) -> None:
    # A store path whose folder is a file: the supervisor cannot even take its lock.
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    h = harness(f'[store]\npath = "{blocker}/s.db"\n')
    with pytest.raises(client.SupervisorError, match="supervisor exited with code 1: .*lock"):
        client.ensure_supervisor(h.cfg)


def test_racing_starters_end_with_one_supervisor(harness) -> None:
    h = harness()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(3) as pool:
        pids = list(pool.map(lambda _: client.ensure_supervisor(h.cfg), range(3)))
    assert len(set(pids)) == 1
    assert holder(lock_path(h.cfg.store.path)) == pids[0]
    # The losers give up on their own; only the winner stays.
    h.wait_for(lambda: h.detached() == pids[:1], what="racing losers to exit")


def test_a_lock_holder_with_a_stale_heartbeat_is_not_alive_but_not_replaced(harness) -> None:
    import os
    import time

    from engine.supervisor.lock import acquire
    from store import kv
    from store.db import Store

    h = harness()
    with Store(h.cfg.store.path) as s:
        kv.put(s, client.KV_HEARTBEAT, repr(time.time() - 3600))
    fd = acquire(lock_path(h.cfg.store.path))  # we play a hung supervisor
    try:
        assert client.supervisor_status(h.cfg) == (False, os.getpid())
        assert client.ensure_supervisor(h.cfg) == os.getpid()  # no second one started
        assert not (Path(h.cfg.paths.logs) / "supervisor.log").exists()
    finally:
        os.close(fd)
