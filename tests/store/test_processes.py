"""The processes table: declare, update, heartbeat; re-declaring keeps what adoption needs."""

from __future__ import annotations

from pathlib import Path

from store.db import Store
from store.processes import get_process, heartbeat, list_processes, update_process, upsert_process


def test_declare_update_and_redeclare_keeps_pid(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as s:
        upsert_process(s, "trader-a", "trader", ["trade", "--name", "a"])
        row = get_process(s, "trader-a")
        assert row is not None
        assert (row.state, row.desired, row.args, row.restarts) == (
            "STARTING", "running", ["trade", "--name", "a"], 0)
        update_process(s, "trader-a", state="RUNNING", pid=123, create_time=1.5,
                       quick_restarts=2, next_start_at=9.0)
        upsert_process(s, "trader-a", "trader", ["trade", "--name", "a", "--live"], "stopped")
        row = get_process(s, "trader-a")
        assert row is not None
        assert (row.pid, row.create_time, row.state) == (123, 1.5, "RUNNING")
        assert (row.desired, row.args[-1], row.quick_restarts, row.next_start_at) == (
            "stopped", "--live", 0, None)
        assert get_process(s, "nope") is None


def test_heartbeat_and_listing_order(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as s:
        upsert_process(s, "b", "trader", ["trade"])
        upsert_process(s, "a", "trader", ["trade"])
        upsert_process(s, "monitor", "monitor", ["monitor"])
        heartbeat(s, "a")
        rows = list_processes(s)
        assert [r.name for r in rows] == ["monitor", "a", "b"]
        assert rows[1].heartbeat_at is not None and rows[2].heartbeat_at is None
        update_process(s, "a")  # no fields: no-op
