"""The commands table: insert, claim once, finish, recovery, waiting for an outcome."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from store.commands import (
    claim_pending,
    fail_running,
    finish_command,
    get_command,
    insert_command,
    recent_commands,
    record_done,
    wait_outcome,
)
from store.db import Store


def test_claim_is_once_and_outcomes_are_kept(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as s:
        a = insert_command(s, "stop", "x", source="console")
        b = insert_command(s, "train", None, {"study": "s1", "n_trials": 3})
        claimed = claim_pending(s)
        assert [c.id for c in claimed] == [a, b]
        assert all(c.state == "running" for c in claimed)
        assert claimed[1].arguments == {"n_trials": 3, "study": "s1"}
        assert claim_pending(s) == []
        finish_command(s, a, False, "no process named x")
        finish_command(s, b, True, "started study-s1 (pid 5)")
        ra, rb = get_command(s, a), get_command(s, b)
        assert ra is not None and rb is not None
        assert (ra.state, ra.result, ra.source) == ("failed", "no process named x", "console")
        assert rb.state == "done" and rb.done_at is not None
        assert [c.id for c in recent_commands(s)] == [b, a]


def test_unknown_action_is_refused(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as s, pytest.raises(ValueError, match="unknown action"):
        insert_command(s, "explode")


def test_fail_running_marks_only_half_done_commands(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as s:
        a = insert_command(s, "stop", "x")
        claim_pending(s)
        b = insert_command(s, "start", "y")
        assert fail_running(s, "interrupted") == 1
        ra, rb = get_command(s, a), get_command(s, b)
        assert ra is not None and rb is not None
        assert (ra.state, ra.result) == ("failed", "interrupted")
        assert rb.state == "pending"


def test_wait_outcome_sees_another_connection_finish(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as s:
        cid = insert_command(s, "kill", "x")
        assert wait_outcome(s, cid, timeout_s=0.05, poll_s=0.01).state == "pending"

        def supervisor() -> None:
            with Store(path) as other:
                claim_pending(other)
                finish_command(other, cid, True, "killed x")

        t = threading.Timer(0.1, supervisor)
        t.start()
        row = wait_outcome(s, cid, timeout_s=10, poll_s=0.01)
        t.join()
        assert row is not None and (row.state, row.result) == ("done", "killed x")
        assert wait_outcome(s, 999, timeout_s=1) is None


def test_a_command_recorded_done_is_never_claimed(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as s:
        cid = record_done(s, "halt_all", None, {"direct": True}, "kill switch on")
        assert claim_pending(s) == []
        row = get_command(s, cid)
        assert row is not None and (row.state, row.result, row.source) == (
            "done", "kill switch on", "cli")
        assert row.done_at == row.at and row.arguments == {"direct": True}
        with pytest.raises(ValueError, match="unknown action"):
            record_done(s, "explode", None, None, "")


def test_prune_finished_deletes_only_old_outcomes(tmp_path: Path) -> None:
    from store.commands import prune_finished

    with Store(tmp_path / "c.db") as store:
        old_done = insert_command(store, "start", "a", source="cli")
        old_failed = insert_command(store, "stop", "b", source="cli")
        stuck = insert_command(store, "start", "c", source="cli")
        pending = insert_command(store, "start", "d", source="cli")
        claim_pending(store, limit=3)  # three running, d stays pending
        finish_command(store, old_done, True, "ok")
        finish_command(store, old_failed, False, "no")
        cutoff = time.time() + 1  # both outcomes are older than this
        assert prune_finished(store, before=cutoff - 3600) == 0  # none that old
        assert prune_finished(store, before=cutoff) == 2
        assert get_command(store, old_done) is None and get_command(store, old_failed) is None
        assert get_command(store, stuck).state == "running"
        assert get_command(store, pending).state == "pending"
        last = record_done(store, "start", "e", None, "ok")
        assert prune_finished(store, before=time.time() + 1) == 1
        # ids are never reused (AUTOINCREMENT): a waiter on a pruned id sees no other command
        assert insert_command(store, "start", "f", source="cli") > last
