"""The processes table: declare, update, heartbeat; re-declaring keeps what adoption needs."""

from __future__ import annotations

from pathlib import Path

from store.db import Store
from store.processes import (
    delete_finished,
    get_process,
    heartbeat,
    list_processes,
    update_process,
    upsert_process,
)


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


def test_delete_finished_keeps_failed_fatal_recent_and_other_kinds(tmp_path: Path) -> None:
    rows = {  # name: (kind, state, exit_code, stopped_at)
        "trial-s-0": ("trial", "EXITED", 0, 100.0),  # finished long ago: deleted
        "trial-s-1": ("trial", "EXITED", 0, 900.0),  # finished recently
        "trial-s-2": ("trial", "FATAL", 1, 100.0),
        "trial-s-3": ("trial", "EXITED", None, 100.0),  # exit status unknown
        "trial-s-4": ("trial", "STOPPED", -9, 100.0),  # killed by the operator
        "study-s": ("study", "EXITED", 0, 100.0),
        "trader-a": ("trader", "EXITED", 0, 100.0),
    }
    with Store(tmp_path / "s.db") as s:
        for name, (kind, state, code, stopped) in rows.items():
            upsert_process(s, name, kind, ["x"])
            update_process(s, name, state=state, exit_code=code, stopped_at=stopped)
        assert delete_finished(s, ("trial",), 500.0) == ["trial-s-0"]
        assert delete_finished(s, ("trial",), 500.0) == []
        assert delete_finished(s, (), 1e12) == []
        assert sorted(r.name for r in list_processes(s)) == sorted(set(rows) - {"trial-s-0"})
