"""store.registry: studies, attempts, checkpoints and models on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from store import registry
from store.db import Store


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "s.db")
    yield s
    s.close()


def test_study_row(store: Store) -> None:
    registry.upsert_study(store, "s1", "journal:x", "5m", 10)
    registry.update_study(store, "s1", best_value=1.5, best_trial=3, pbo=0.25)
    registry.upsert_study(store, "s1", "journal:x", "5m", 20)  # rejoin keeps results
    row = registry.get_study(store, "s1")
    assert row is not None
    assert (row.n_trials, row.best_value, row.best_trial, row.pbo) == (20, 1.5, 3, 0.25)
    assert [s.name for s in registry.list_studies(store)] == ["s1"]


def test_attempts_are_numbered_per_trial_and_end_with_a_reason(store: Store) -> None:
    a1 = registry.start_attempt(store, "s", 0, {"lr": 0.1}, device="cpu", batch_size=512,
                                pid=123, host="h")
    assert (a1.attempt, a1.state, a1.params_dict, a1.pid) == (1, "RUNNING", {"lr": 0.1}, 123)
    registry.end_attempt(store, a1.id, "RETRYING", error=MemoryError("oom"),
                         error_class="OutOfMemoryError")
    a2 = registry.start_attempt(store, "s", 0, {"lr": 0.1}, batch_size=256)
    b1 = registry.start_attempt(store, "s", 1, {})
    assert (a2.attempt, b1.attempt) == (2, 1)
    registry.heartbeat_attempt(store, a2.id, 1.7)
    assert registry.get_attempt(store, a2.id).progress == 1.0  # clamped
    registry.end_attempt(store, a2.id, "COMPLETE", objective=0.5, metrics={"sharpe": 1.0},
                         model_path="/m")
    got = registry.list_attempts(store, "s", 0)
    assert [a.state for a in got] == ["RETRYING", "COMPLETE"]
    assert got[0].error_class == "OutOfMemoryError" and got[0].error_message == "oom"
    assert got[1].metrics_dict == {"sharpe": 1.0} and got[1].ended_at is not None
    assert registry.count_attempts(store, "s", 0) == 2
    assert registry.count_attempts(store, "s", 0, "OutOfMemoryError") == 1
    assert registry.latest_attempt(store, "s", 0).attempt == 2
    assert [a.trial for a in registry.running_attempts(store, "s")] == [1]
    assert registry.state_counts(store, "s") == {"COMPLETE": 1, "RUNNING": 1}
    assert [a.trial for a in registry.complete_attempts(store, "s")] == [0]
    with pytest.raises(ValueError):
        registry.end_attempt(store, b1.id, "RUNNING")


def test_checkpoints_and_models(store: Store) -> None:
    for step in (2, 4, 6):
        registry.add_checkpoint(store, "s", 0, 1, step, f"/c/{step}")
    registry.remove_checkpoints(store, ["/c/2"])
    assert [c.step for c in registry.list_checkpoints(store, "s", 0)] == [6, 4]
    for trial, obj in ((0, 0.1), (1, 0.9), (2, None)):
        registry.add_model(store, f"/m/{trial}", "s", trial, objective=obj, sharpe=1.0,
                           ew_sharpe=0.5, hodl_sharpe=0.4, data_fingerprint="d",
                           feature_fingerprint="f")
    registry.add_model(store, "/m/0", "s", 0, objective=0.2, sharpe=1.0, ew_sharpe=0.5,
                       hodl_sharpe=0.4, data_fingerprint="d", feature_fingerprint="f")
    assert [m.trial for m in registry.list_models(store, "s")] == [0, 1, 2]
    assert [(m.trial, m.objective) for m in registry.best_models(store, "s", 2)] == [(1, 0.9), (0, 0.2)]


def test_store_id_is_made_once(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as a, Store(tmp_path / "b.db") as b:
        first = registry.store_id(a)
        assert registry.store_id(a) == first and len(first) == 32
        assert registry.store_id(b) != first
    with Store(tmp_path / "a.db") as again:
        assert registry.store_id(again) == first


def test_remote_trials_are_upserted_and_kept_apart(store: Store) -> None:
    local = registry.start_attempt(store, "s", 0, {"lr": 0.1})
    run = registry.RemoteTrial("s", 1, "RUNNING", "gpu-b", {"lr": 0.2}, None, 0.25, 100.0, None,
                               device="cuda:1")
    registry.upsert_remote_trials(store, [run])
    registry.upsert_remote_trials(store, [registry.RemoteTrial(
        "s", 1, "COMPLETE", "gpu-b", {"lr": 0.2}, 0.8, 1.0, 100.0, 130.0,
        metrics={"split_scores": [0.7, 0.9]})])
    rows = registry.list_attempts(store, "s")
    assert [(r.trial, r.attempt, r.mirrored) for r in rows] == [(0, 1, 0), (1, 1, 1)]
    remote = rows[1]
    assert (remote.state, remote.objective, remote.host, remote.ended_at) == (
        "COMPLETE", 0.8, "gpu-b", 130.0)
    assert remote.process == "gpu-b:trial-s-1" and remote.metrics_dict["split_scores"] == [0.7, 0.9]
    assert registry.local_trials(store, "s") == {0}
    assert [a.trial for a in registry.running_attempts(store, "s")] == [0]
    assert [a.trial for a in registry.complete_attempts(store, "s")] == [1]  # ranked, PBO
    # a mirror row never replaces a local attempt
    registry.upsert_remote_trials(store, [registry.RemoteTrial(
        "s", 0, "FAILED", "gpu-b", {}, None, 0.0, 1.0, 2.0)])
    got = registry.get_attempt(store, local.id)
    assert got is not None and (got.state, got.mirrored, got.host) == ("RUNNING", 0, "")


def test_remote_models_never_overwrite_a_row(store: Store) -> None:
    registry.add_model(store, "/m/own", "s", 0, objective=0.5, sharpe=1.0, ew_sharpe=0.2,
                       hodl_sharpe=0.1, data_fingerprint="d", feature_fingerprint="f")
    registry.upsert_remote_models(store, [
        registry.RemoteModel("/m/own", "s", 0, 0.9, sharpe=9.0),
        registry.RemoteModel("/m/remote", "s", 1, 0.7, hodl_sharpe=-0.5, created_at=12.0)])
    own, remote = registry.get_model(store, "/m/own"), registry.get_model(store, "/m/remote")
    assert own is not None and (own.objective, own.sharpe, own.data_fingerprint) == (
        0.5, 1.0, "d")
    assert remote is not None and (remote.trial, remote.objective, remote.sharpe,
                                   remote.hodl_sharpe, remote.data_fingerprint,
                                   remote.created_at) == (1, 0.7, None, -0.5, None, 12.0)
    assert registry.get_model(store, "/m/none") is None
    assert [m.path for m in registry.best_models(store, "s", 2)] == ["/m/remote", "/m/own"]


def test_finished_checkpoints_are_only_those_of_trials_that_are_over(store: Store) -> None:
    import time

    def trial(n: int, *states: str) -> None:
        for i, state in enumerate(states):
            a = registry.start_attempt(store, "s", n, {})
            registry.add_checkpoint(store, "s", n, a.attempt, 10 * (i + 1), f"/m/{n}/{i}.pt")
            if state != "RUNNING":
                registry.end_attempt(store, a.id, state)

    trial(0, "COMPLETE")
    trial(1, "PRUNED")
    trial(2, "RETRYING", "FAILED")        # died once, then failed for good: over
    trial(3, "RETRYING")                  # died, about to be resumed: its checkpoint is needed
    trial(4, "RETRYING", "RUNNING")       # resumed, running
    trial(5, "RUNNING")
    trial(6, "RETRYING", "COMPLETE")      # an old RETRYING attempt blocks nothing
    later = time.time() + 1
    got = registry.finished_checkpoints(store, later)
    assert sorted({(r.trial, r.path) for r in got}) == [
        (0, "/m/0/0.pt"), (1, "/m/1/0.pt"), (2, "/m/2/0.pt"), (2, "/m/2/1.pt"),
        (6, "/m/6/0.pt"), (6, "/m/6/1.pt")]
    assert registry.finished_checkpoints(store, later - 3600) == []  # none ended that early
