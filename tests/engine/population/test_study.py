"""`cappuccino train --population K`: Optuna asks K trials, one process trains them at once.

Real processes, a real SQLite store and Optuna journal; the OOM comes from the same
CAPPUCCINO_FAULT test hook the trial workers use (a real torch.cuda.OutOfMemoryError
raised inside a training step), not from a mock of our code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from engine.config import Config, load_config
from engine.population.study import SHAPE_PARAMS, PopulationStudy
from engine.study.storage import open_study
from engine.study.trace import load_trace
from store import registry
from store.db import Store
from store.registry import AttemptRow

from .conftest import TINY  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parents[3]


def train(cfg_path: Path, *args: str, fault: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAPPUCCINO_FAULT": fault}
    return subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(cfg_path),
                           "train", "--study", "pop", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cappuccino.toml"
    path.write_text(text)
    return path


@pytest.mark.slow
def run_population(tmp_path: Path, text: str, trials: int,
                   size: int) -> tuple[Config, list[AttemptRow | None]]:
    """A whole population study run in this process: its config and each trial's latest
    attempt."""
    cfg = load_config(write(tmp_path, text), environ={})
    run = PopulationStudy(cfg, "pop", "5m", trials, size, "cpu", log=lambda m: None)
    try:
        run.run()
    finally:
        run.close()
    store = Store(cfg.store.path)
    try:
        return cfg, [registry.latest_attempt(store, "pop", t) for t in range(trials)]
    finally:
        store.close()


def test_oom_halves_the_population_and_every_trial_resumes_from_its_checkpoint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, TINY.replace("[study]", "[study]\nseed = 1\npruning = false"))
    proc = train(path, "--n-trials", "4", "--population", "4", fault="trial=1,oom_at_update=3")
    assert proc.returncode == 0, proc.stderr
    assert "out of memory with 4 trials: halving the population" in proc.stdout
    cfg = load_config(path, environ={})
    store = Store(cfg.store.path)
    try:
        study = open_study(cfg, "pop", create=False)
        told = {t.number: t for t in study.get_trials(deepcopy=False)}
        objectives = set()
        for trial in range(4):
            first, second = registry.list_attempts(store, "pop", trial)
            assert (first.state, first.error_class) == ("RETRYING", "OutOfMemoryError")
            assert "trial 1 at update 3" in (first.error_message or "")
            assert second.state == "COMPLETE"
            m = second.metrics_dict
            assert m["resumed_at_update"] == 2            # the checkpoint before the OOM
            assert m["population"] == 6   # half of 4 trials × (2 splits + the refit on all CV bars)
            assert len(m["split_scores"]) == 2
            assert Path(second.model_path or "", "model.pt").exists() or any(
                Path(second.model_path or "").iterdir())
            assert registry.list_checkpoints(store, "pop", trial)
            # its out-of-sample evidence for the paper gate (engine.study.evidence)
            assert Path(second.model_path or "", "evidence.npz").exists()
            assert told[trial].state == optuna.trial.TrialState.COMPLETE
            assert told[trial].value == pytest.approx(second.objective)
            objectives.add(round(second.objective or 0.0, 6))
        assert len(objectives) == 4                       # each trial its own seed
        row = registry.get_study(store, "pop")
        assert row is not None and row.pbo is not None    # CSCV over the four traces
        assert row.best_value == pytest.approx(max(
            registry.latest_attempt(store, "pop", t).objective for t in range(4)))  # type: ignore[union-attr]
    finally:
        store.close()


def test_population_trials_share_shapes_and_sample_the_rest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, rows = run_population(tmp_path, TINY.replace("search = false", "search = true")
                             .replace("[study]", "[study]\nseed = 3\npruning = false")
                             .replace("total_steps = 2048", "total_steps = 1024"), 6, 3)
    assert all(r is not None and r.state == "COMPLETE" for r in rows)
    for pop in (rows[:3], rows[3:]):
        shapes = {tuple(r.params_dict[n] for n in SHAPE_PARAMS) for r in pop}  # type: ignore[union-attr]
        assert len(shapes) == 1
        assert len({r.params_dict["lr"] for r in pop}) == 3  # type: ignore[union-attr]


def test_median_pruner_masks_out_members_of_weak_trials(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg, rows = run_population(tmp_path, TINY.replace("[study]", "[study]\nseed = 2")
                               .replace("checkpoint_every = 2", "checkpoint_every = 1"), 8, 4)
    path = tmp_path / "cappuccino.toml"  # what run_population wrote
    study = open_study(cfg, "pop", create=False)
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    pruned = [a for a in rows if a is not None and a.state == "PRUNED"]
    assert pruned, "no trial of the second population was pruned"
    for a in pruned:
        assert states[a.trial] == optuna.trial.TrialState.PRUNED
        assert "pruned at update" in (a.error_message or "")
        assert a.progress < 1.0 and a.model_path is None
    assert all(states[t] == optuna.trial.TrialState.COMPLETE for t in range(4))  # startup
    # Pruned before any split was scored, each still leaves its (empty, marked) evidence
    # file, and `study show` lists it; it counts in N.
    for a in pruned:
        trace = load_trace(Path(cfg.paths.models) / "pop" / f"trial-{a.trial}")
        assert trace is not None and trace.status == "PRUNED" and not trace.splits
    r = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(path), "study",
                        "show", "--study", "pop", "--json"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    listed = {t["trial"]: t for t in doc["trials"]}
    assert doc["trials_attempted"] == 8 == len(listed)
    for a in pruned:
        assert listed[a.trial] == {"trial": a.trial, "state": "PRUNED", "objective": None,
                                   "evidence": True, "splits": 0, "bars": 0,
                                   "ended": "PRUNED"}
    text = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(path),
                           "study", "show", "--study", "pop"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120).stdout
    assert f"#{pruned[0].trial} PRUNED before any split" in text


def test_bad_population_is_a_usage_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, TINY)
    proc = train(path, "--n-trials", "1", "--population", "many")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "cappuccino: --population must be a number from 0 to 4096 or 'auto' (got 'many')"]


@pytest.mark.slow
def test_a_killed_population_resumes_all_its_trials(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, TINY.replace("[study]", "[study]\nseed = 1\npruning = false")
                 .replace("[trials]", "[trials]\nheartbeat_timeout_s = 1"))
    killed = train(path, "--n-trials", "2", "--population", "2", fault="trial=0,sigkill_at_update=3")
    assert killed.returncode == -9
    cfg = load_config(path, environ={})
    store = Store(cfg.store.path)
    try:
        assert [a.state for a in registry.list_attempts(store, "pop")] == ["RUNNING", "RUNNING"]
        deadline = time.time() + 30   # the dead driver's heartbeats must go stale
        while time.time() - max(a.heartbeat_at or 0 for a in registry.list_attempts(store, "pop")) < 1.5:
            assert time.time() < deadline
            time.sleep(0.2)
        again = train(path, "--n-trials", "1", "--population", "2")
        assert again.returncode == 0, again.stderr
        assert "resuming trials [0, 1]" in again.stdout
        for trial in (0, 1):
            first, second = registry.list_attempts(store, "pop", trial)
            assert (first.state, first.error_class) == ("RETRYING", "WorkerDied")
            assert second.state == "COMPLETE"
            assert second.metrics_dict["resumed_at_update"] == 2
        assert registry.latest_attempt(store, "pop", 2).state == "COMPLETE"  # type: ignore[union-attr]
    finally:
        store.close()


def test_a_population_past_the_time_limit_fails_its_trials(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, rows = run_population(tmp_path, TINY.replace("[trials]", "[trials]\ntime_limit_s = 0.001"),
                             2, 2)
    for r in rows:
        assert r is not None and (r.state, r.error_class) == ("FAILED", "TimeLimitError")
        assert "time limit" in (r.error_message or "") and r.progress < 1.0
