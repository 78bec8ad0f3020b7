"""Studies end to end with real worker processes (direct launcher), on synthetic data.

- a tiny study (2 trials, sampled hyperparameters) produces loadable models;
- a study with injected faults (engine.study.faults, test-only CAPPUCCINO_FAULT): an OOM
  inside a training step, a SIGKILLed worker, a corrupt checkpoint, too little disk, a
  NaN loss. The study goes on and the registry is complete.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.config import load_config
from engine.model.artifact import LoadedModel
from store import registry
from store.db import Store

from .conftest import TINY  # type: ignore[import-not-found]

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]


def start_train(cfg_path: Path, study: str, n_trials: int, fault: str = "") -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    if fault:
        env["CAPPUCCINO_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli.main", "--config", str(cfg_path), "train",
         "--study", study, "--n-trials", str(n_trials), "--direct"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory):
    """Both studies run at the same time (they share nothing but the CPU)."""
    tiny = tmp_path_factory.mktemp("tiny") / "cappuccino.toml"
    tiny.write_text(TINY)
    faults = tmp_path_factory.mktemp("faults") / "cappuccino.toml"
    # fixed hyperparameters (4 updates per split, 8 per trial) so faults hit known updates
    faults.write_text(TINY.replace("[ppo]\n", "[ppo]\nsearch = false\n")
                      .replace("[study]\n", "[study]\npruning = false\n"))
    fault = ("trial=0,oom_at_update=3;trial=1,sigkill_at_update=5;"
             "trial=2,corrupt_ckpt_at_update=4;trial=3,free_mb=0;trial=4,nan_at_update=2")
    procs = {"tiny": start_train(tiny, "tiny", 2), "faults": start_train(faults, "faults", 6, fault)}
    out = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=240)
        out[name] = (proc.returncode, stdout, stderr)
    return {"tiny": (load_config(tiny, environ={}), out["tiny"]),
            "faults": (load_config(faults, environ={}), out["faults"])}


@pytest.fixture(scope="module")
def tiny_study(studies):
    return studies["tiny"]


@pytest.fixture(scope="module")
def fault_study(studies):
    return studies["faults"]


def attempts(cfg, study: str) -> dict[int, list[registry.AttemptRow]]:
    with Store(cfg.store.path) as s:
        out: dict[int, list[registry.AttemptRow]] = {}
        for a in registry.list_attempts(s, study):
            out.setdefault(a.trial, []).append(a)
        return out


def test_tiny_study_produces_loadable_models(tiny_study) -> None:
    cfg, proc = tiny_study
    assert proc[0] == 0, proc[2][-2000:]
    by_trial = attempts(cfg, "tiny")
    assert sorted(by_trial) == [0, 1]
    with Store(cfg.store.path) as s:
        models = registry.list_models(s, "tiny")
        study = registry.get_study(s, "tiny")
        events = [r["event"] for r in s.query("SELECT event FROM outbox")]
    assert len(models) == 2
    assert study is not None and study.best_value == max(m.objective for m in models)
    assert study.pbo is not None and 0.0 <= study.pbo <= 1.0
    assert events.count("trial") == 2 and "best_value" in events
    for m in models:
        a = by_trial[m.trial][-1]
        assert a.state == "COMPLETE" and a.model_path == m.path and a.progress == 1.0
        assert a.device == "cpu" and a.peak_mem_mb and a.batch_size and a.heartbeat_at
        model = LoadedModel(m.path)
        obs = np.zeros((5, model.spec.obs_dim), dtype=np.float32)
        act = model.act(obs)
        assert act.shape == (5, 3) and np.all(np.abs(act) <= 1)
        metrics = json.loads((Path(m.path) / "metrics.json").read_text())
        for key in ("objective", "sharpe", "ew_sharpe", "hodl_sharpe", "split_scores"):
            assert key in metrics
        assert metrics["sharpe"] == pytest.approx(m.sharpe)
        spec = json.loads((Path(m.path) / "spec.json").read_text())
        assert spec["data_fingerprint"] == m.data_fingerprint and spec["features"]["lookback"]
        assert spec["env"]["fee_rate"] == cfg.env.fee_rate
        params = json.loads((Path(m.path) / "params.json").read_text())
        # the sampled values are what the agent used
        for name, value in params.items():
            if name in metrics["effective_hp"] and name != "minibatch":
                assert metrics["effective_hp"][name] == value or name == "episode_len"


def test_oom_is_retried_with_half_the_minibatch_from_the_checkpoint(fault_study) -> None:
    cfg, proc = fault_study
    assert proc[0] == 0, proc[2][-2000:]
    a = attempts(cfg, "faults")[0]
    assert [x.state for x in a] == ["RETRYING", "COMPLETE"]
    assert a[0].error_class == "OutOfMemoryError" and "injected" in a[0].error_message
    assert a[1].batch_size == a[0].batch_size // 2
    m = a[1].metrics_dict
    assert m["resumed_at_update"] == 2 and m["effective_hp"]["minibatch"] == a[1].batch_size


def test_sigkilled_worker_resumes_from_its_checkpoint(fault_study) -> None:
    cfg, _ = fault_study
    a = attempts(cfg, "faults")[1]
    assert [x.state for x in a] == ["RETRYING", "COMPLETE"]
    assert a[0].error_class == "WorkerDied" and "SIGKILL" in a[0].error_message
    assert a[1].metrics_dict["resumed_at_update"] == 4
    assert a[1].pid != a[0].pid


def test_corrupt_checkpoint_falls_back_to_the_previous_one(fault_study) -> None:
    cfg, _ = fault_study
    a = attempts(cfg, "faults")[2]
    assert [x.state for x in a] == ["RETRYING", "COMPLETE"]
    m = a[1].metrics_dict
    assert m["resumed_at_update"] == 2
    assert m["corrupt_checkpoints"][0]["path"].endswith("ckpt-000000004.pt")
    assert "checksum" in m["corrupt_checkpoints"][0]["why"]


def test_low_disk_and_nan_fail_their_trial_only(fault_study) -> None:
    cfg, _ = fault_study
    by_trial = attempts(cfg, "faults")
    disk = by_trial[3]
    assert [x.state for x in disk] == ["FAILED"]
    assert "MB free" in disk[0].error_message and "needed" in disk[0].error_message
    nan = by_trial[4]
    assert [x.state for x in nan] == ["FAILED"] and nan[0].error_class == "NaNLossError"
    assert "nan" in nan[0].error_message
    # the study went on after both: trial 5 ran clean
    assert by_trial[5][-1].state == "COMPLETE"


def test_registry_is_complete_after_faults(fault_study) -> None:
    cfg, _ = fault_study
    import optuna

    from engine.study.storage import open_study

    by_trial = attempts(cfg, "faults")
    assert sorted(by_trial) == [0, 1, 2, 3, 4, 5]
    for rows in by_trial.values():
        assert rows[-1].state in registry.FINAL_STATES
        assert all(r.ended_at and r.state != "RUNNING" for r in rows)
        assert all(r.params_dict and r.device and r.pid and r.host for r in rows)
        assert [r.attempt for r in rows] == list(range(1, len(rows) + 1))
    study = open_study(cfg, "faults", create=False)
    states = {t.number: t.state for t in study.get_trials()}
    assert states == {0: optuna.trial.TrialState.COMPLETE, 1: optuna.trial.TrialState.COMPLETE,
                      2: optuna.trial.TrialState.COMPLETE, 3: optuna.trial.TrialState.FAIL,
                      4: optuna.trial.TrialState.FAIL, 5: optuna.trial.TrialState.COMPLETE}
    with Store(cfg.store.path) as s:
        models = {m.trial for m in registry.list_models(s, "faults")}
        row = registry.get_study(s, "faults")
        ckpts = registry.list_checkpoints(s, "faults", 0)
    assert models == {0, 1, 2, 5}
    assert row is not None and row.best_trial in models and row.pbo is not None
    assert ckpts and all(Path(c.path).exists() for c in ckpts)
    assert len(ckpts) <= cfg.trials.keep_checkpoints


def cli(cfg_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    return subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(cfg_path),
                           *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_study_show_reports_the_evidence_the_gate_enforces(tiny_study, tmp_path) -> None:
    cfg, proc = tiny_study
    assert proc[0] == 0, proc[2][-2000:]
    cfg_path = Path(cfg.store.path).parents[1] / "cappuccino.toml"
    for trial in (0, 1):  # every trial keeps its per-bar out-of-sample evidence
        assert (Path(cfg.paths.models) / "tiny" / f"trial-{trial}" / "evidence.npz").exists()
    html = tmp_path / "study.html"
    out = cli(cfg_path, "study", "show", "--study", "tiny", "--json", "--html", str(html))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["study"] == "tiny" and doc["trials_attempted"] == 2 and doc["pbo_blocks"] == 16
    assert doc["pbo"] is not None and 0.0 <= doc["pbo"] <= 1.0
    best = doc["best"]
    with Store(cfg.store.path) as s:
        row = registry.get_study(s, "tiny")
        stored = registry.get_study_evidence(s, "tiny")
    assert row is not None and best["trial"] == row.best_trial
    assert best["objective"] == pytest.approx(row.best_value)
    assert 0.0 <= best["dsr"] <= 1.0 and best["bars"] > 0
    lo, hi = best["holdout_ci"]  # a percentile interval need not contain the estimate
    assert lo < hi and best["holdout_active_sharpe"] is not None
    assert set(best["baselines"]) == {"cash", "hodl", "equal_weight", "static_tilt"}
    assert best["baselines"]["equal_weight"] == 0.0
    assert len(best["learning_curve"]) >= 1 and len(best["seed_scores"]) == 1  # seeds = 1
    gate = doc["gate"]["paper"]
    assert isinstance(gate["passed"], bool)
    assert gate["passed"] == (not gate["reasons"])
    # the driver's summary (status --json, the console) says the same as the fresh figures
    assert stored is not None and stored["best"] == best and stored["gate"] == doc["gate"]
    assert "Paper gate" in html.read_text()
    # the promotion preview enforces these very gates, and names each failing number
    check = cli(cfg_path, "promote", "--to", "paper", "--trial", str(best["trial"]),
                "--study", "tiny", "--check", "--json")
    gates = {g["name"]: g for g in json.loads(check.stdout)["gates"]}
    assert gates["deflated Sharpe ratio"]["value"] == pytest.approx(best["dsr"], abs=1e-4)
    assert gates["PBO"]["value"] == pytest.approx(doc["pbo"], abs=1e-4)
    assert check.returncode == (0 if gate["passed"] else 1)
    text = cli(cfg_path, "study", "show", "--study", "tiny")
    assert text.returncode == 0 and "deflated Sharpe ratio" in text.stdout
    missing = cli(cfg_path, "study", "show", "--study", "nope")
    assert missing.returncode == 2 and "no study named 'nope'" in missing.stderr
    assert "Traceback" not in missing.stderr
