"""Two hosts (two stores) on one shared Optuna RDB storage: each store mirrors the other's trials.

The hosts are simulated: both stores live under tmp_path and share `sqlite:///optuna.db`.
Host A's trials are written through the Optuna API the way its driver and workers write
them (store id at ask, host/device when the worker starts, progress at checkpoints, the
outcome before the final state); a real worker's attrs are checked in test_hung_worker.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from engine.study import mirror
from engine.study.runner import StudyRun
from engine.study.storage import trial_handle
from store import registry, views


def two_hosts(make_config, tmp_path: Path) -> tuple[StudyRun, StudyRun]:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    runs = []
    for host in ("a", "b"):
        cfg = make_config(f'[store]\npath = "{host}/cappuccino.db"\n[study]\nstorage = "{url}"\n',
                          name=f"{host}.toml")
        runs.append(StudyRun(cfg, "shared", "5m", 4, launcher="direct", log=lambda m: None))
    return runs[0], runs[1]


def a_trial_on_gpu_a(run: StudyRun, progress: float) -> optuna.Trial:
    number = run._new_trial()  # asked by A's driver: carries A's store id
    t = trial_handle(run.optuna, number)
    mirror.set_attrs(t, host="gpu-a", device="cuda:0", progress=progress)
    t.report(0.25, 0)
    return t


def test_each_store_mirrors_the_other_hosts_trials(make_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a, b = two_hosts(make_config, tmp_path)
    try:
        done = a_trial_on_gpu_a(a, 0.5)
        mirror.set_attrs(done, split_scores=[0.1, 0.3], model_path="/shared/m/0")
        a.optuna.tell(done.number, 0.7)
        running = a_trial_on_gpu_a(a, 0.5)
        # a trial from a driver that predates the attrs: no store, no host
        old = a.optuna.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        a.optuna.tell(old, state=optuna.trial.TrialState.FAIL)
        own = b._new_trial()  # B's own trial is never mirrored into B

        b.mirror_remote()
        rows = {r.trial: r for r in registry.list_attempts(b.store, "shared")}
        assert sorted(rows) == [done.number, running.number, old.number]
        assert own not in rows
        d, r, o = rows[done.number], rows[running.number], rows[old.number]
        assert (d.state, d.host, d.objective, d.progress, d.mirrored) == (
            "COMPLETE", "gpu-a", 0.7, 1.0, 1)
        assert d.device == "cuda:0" and d.model_path == "/shared/m/0" and d.params_dict
        assert d.metrics_dict == {"split_scores": [0.1, 0.3]} and d.ended_at is not None
        assert (r.state, r.host, r.progress, r.objective) == ("RUNNING", "gpu-a", 0.5, None)
        assert (o.state, o.host) == ("FAILED", mirror.UNKNOWN_HOST)
        assert "no reason" in (o.error_message or "")
        study = registry.get_study(b.store, "shared")
        assert study is not None and (study.best_value, study.best_trial) == (0.7, done.number)
        # the console's queries see them; B's driver never resumes another host's trial
        assert [v.trial for v in views.running_attempts_all_hosts(b.store, "shared")] == [running.number]
        assert registry.running_attempts(b.store, "shared") == [] and b.orphans() == []

        # idempotent and cheap: nothing changed, nothing written
        assert b.mirror.poll() == ([], None)
        before = registry.list_attempts(b.store, "shared")
        b.mirror_remote()
        assert registry.list_attempts(b.store, "shared") == before

        # the running trial finishes better: only it is written, and it becomes the best
        mirror.set_attrs(running, progress=1.0)
        a.optuna.tell(running.number, 0.9)
        changed, best = b.mirror.poll()
        assert [c.trial for c in changed] == [running.number]
        assert best is not None and (best.value, best.trial, best.host) == (
            0.9, running.number, "gpu-a")
        # a restarted driver (a fresh mirror) rewrites the same rows and adds none
        b.mirror = mirror.Mirror(b.store, "shared", b.optuna, b.store_id)
        b.mirror_remote()
        rows = {r.trial: r for r in registry.list_attempts(b.store, "shared")}
        assert len(rows) == 3 and rows[running.number].state == "COMPLETE"
        assert registry.get_study(b.store, "shared").best_value == 0.9  # type: ignore[union-attr]

        # A mirrors only what it did not run: the old trial, and B's
        changed, _ = a.mirror.poll()
        assert sorted(c.trial for c in changed) == sorted([old.number, own])
    finally:
        a.close()
        b.close()


def test_a_local_attempt_is_never_overwritten(make_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a, b = two_hosts(make_config, tmp_path)
    try:
        # a trial without attrs that B did run (a driver from before the attrs existed)
        n = a.optuna.ask().number
        mine = registry.start_attempt(b.store, "shared", n, {"lr": 1e-3}, device="cpu")
        a.optuna.tell(n, 0.4)
        assert b.mirror.poll() == ([], None)
        registry.upsert_remote_trials(b.store, [registry.RemoteTrial(
            "shared", n, "FAILED", "x", {}, None, 0.0, 0.0, None)])
        got = registry.get_attempt(b.store, mine.id)
        assert got is not None and (got.state, got.mirrored, got.params_dict) == (
            "RUNNING", 0, {"lr": 1e-3})
    finally:
        a.close()
        b.close()


def finished_on_gpu_a(a: StudyRun, value: float, **attrs: object) -> int:
    t = a_trial_on_gpu_a(a, 1.0)
    mirror.set_attrs(t, **attrs)
    a.optuna.tell(t.number, value)
    return t.number


def test_other_hosts_models_get_rows_once_readable_here(make_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a, b = two_hosts(make_config, tmp_path)
    shared = tmp_path / "shared-models"  # [paths] models, shared between the hosts

    def model_dir(trial: int, complete: bool = True) -> str:
        d = shared / "shared" / f"trial-{trial}"
        d.mkdir(parents=True, exist_ok=True)
        if complete:
            (d / mirror.MODEL_COMPLETE_FILE).write_text("{}")
        return str(d)

    try:
        info = {"sharpe": 1.25, "ew_sharpe": 0.5, "hodl_sharpe": -0.25,
                "data_fingerprint": "d1", "feature_fingerprint": "f1"}
        full = finished_on_gpu_a(a, 0.75, model_path=model_dir(0), model_metrics=info)
        # an older worker recorded only the path: the row says nothing about the rest
        bare = finished_on_gpu_a(a, 0.5, model_path=model_dir(1))
        no_path = finished_on_gpu_a(a, 0.25, model_metrics=info)  # nothing to point at
        later = finished_on_gpu_a(a, 0.4, model_path=model_dir(3, complete=False),
                                  model_metrics=dict(info, sharpe=float("nan")))
        failed = a_trial_on_gpu_a(a, 0.5)
        mirror.set_attrs(failed, model_path=model_dir(4))
        a.optuna.tell(failed.number, state=optuna.trial.TrialState.FAIL)

        b.mirror_remote()
        models = {m.trial: m for m in registry.list_models(b.store, "shared")}
        assert sorted(models) == [full, bare]
        m = models[full]
        assert (m.path, m.objective, m.sharpe, m.ew_sharpe, m.hodl_sharpe) == (
            model_dir(0), 0.75, 1.25, 0.5, -0.25)
        assert (m.data_fingerprint, m.feature_fingerprint) == ("d1", "f1")
        n = models[bare]
        assert (n.objective, n.sharpe, n.ew_sharpe, n.hodl_sharpe, n.data_fingerprint,
                n.feature_fingerprint) == (0.5, None, None, None, None, None)
        # the console's Trials page joins them on the mirrored attempt's model path
        page = {v.trial: v for v in views.attempts_page(b.store, "shared")}
        assert (page[full].sharpe, page[full].ew_sharpe, page[full].hodl_sharpe) == (
            1.25, 0.5, -0.25)
        assert page[no_path].sharpe is None and page[later].sharpe is None

        # the half-written model turns up on the shared folder: the next poll adds it, and
        # a non-finite Sharpe is stored as unknown, not as a number
        model_dir(3)
        assert b.mirror.poll() == ([], None)
        got = registry.get_model(b.store, model_dir(3))
        assert got is not None and got.trial == later and got.objective == 0.4
        assert got.sharpe is None and got.ew_sharpe == 0.5
        assert b.mirror.waiting == {}

        # a restarted driver (a fresh mirror) adds no row and rewrites none
        before = registry.list_models(b.store, "shared")
        b.mirror = mirror.Mirror(b.store, "shared", b.optuna, b.store_id)
        b.mirror_remote()
        assert registry.list_models(b.store, "shared") == before and len(before) == 3
    finally:
        a.close()
        b.close()
