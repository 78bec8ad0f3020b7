"""`cappuccino study show`: the evidence of a study from its store and trial folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.config import load_config
from engine.study.synthetic import EDGE, FEE_NOISE, planted_trace
from engine.study.trace import objective_of
from store import registry
from store.db import Store


def make_study(config_path: Path, means: dict[int, float | None]) -> None:
    """Trials as workers leave them: attempts in the store, evidence.npz next to the model
    (a mean of None: a failed trial, no evidence)."""
    config_path.write_text('[study]\nname = "s1"\n')
    cfg = load_config(config_path, environ={})
    with Store(cfg.store.path) as st:
        registry.upsert_study(st, "s1", "journal", "5m", len(means))
        for trial, mean in means.items():
            att = registry.start_attempt(st, "s1", trial, {})
            if mean is None:
                registry.end_attempt(st, att.id, "FAILED", error_class="NaNLossError")
                continue
            folder = Path(cfg.paths.models) / "s1" / f"trial-{trial}"
            trace = planted_trace(mean, trial, seeds=2)
            trace.save(folder)
            registry.end_attempt(st, att.id, "COMPLETE", objective=objective_of(trace, 300),
                                 model_path=str(folder))


def show(config_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str,
                                                                                    str]:
    code = main(["--config", str(config_path), "study", "show", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_contract_and_a_planted_edge_passes(config_path: Path, capsys) -> None:
    make_study(config_path, {0: FEE_NOISE, 1: FEE_NOISE, 2: EDGE, 3: FEE_NOISE, 4: None})
    code, out, _ = show(config_path, capsys, "--json")
    assert code == 0
    doc = json.loads(out)
    assert {"study", "trials_attempted", "pbo", "pbo_blocks", "best", "gate"} <= set(doc)
    assert (doc["study"], doc["trials_attempted"], doc["pbo_blocks"]) == ("s1", 5, 16)
    b = doc["best"]
    assert {"trial", "objective", "dsr", "holdout_active_sharpe", "holdout_ci",
            "baselines"} <= set(b)
    assert set(b["baselines"]) == {"cash", "hodl", "equal_weight", "static_tilt"}
    assert b["trial"] == 2 and b["dsr"] >= 0.95 and doc["pbo"] <= 0.2
    assert len(b["holdout_ci"]) == 2 and b["holdout_ci"][0] > 0
    assert len(b["seed_scores"]) == 2 and len(b["learning_curve"]) == 8
    assert doc["gate"]["paper"]["passed"] is True and doc["gate"]["paper"]["reasons"] == []


def test_noise_is_refused_with_every_failing_number(config_path: Path, capsys,
                                                    tmp_path: Path) -> None:
    make_study(config_path, {t: 0.0 for t in range(6)})
    page = tmp_path / "study.html"
    code, out, _ = show(config_path, capsys, "--html", str(page))
    assert code == 0  # a refusal is the study's verdict, not a failure of the command
    assert "paper gate: REFUSED" in out and "deflated Sharpe ratio:" in out
    assert "needs >= 0.95" in out and "PBO" in out
    html = page.read_text()
    assert html.startswith("<!doctype html>") and "Paper gate: REFUSED" in html
    assert "<svg" in html  # the learning curve


def test_bad_input_is_one_clear_line(config_path: Path, capsys, tmp_path: Path) -> None:
    code, _, err = show(config_path, capsys)  # no store yet: no study to show (bad usage)
    assert code == 2 and "no store" in err and len(err.strip().splitlines()) == 1
    code, _, err = show(config_path, capsys, "--study", "nope")
    assert code == 2 and "no study named 'nope' (no store at" in err
    assert not Path(load_config(config_path, environ={}).store.path).exists()
    make_study(config_path, {0: 0.0, 1: 0.0})
    code, _, err = show(config_path, capsys, "--study", "nope")
    assert code == 2 and "no study named 'nope'" in err and "s1" in err
    code, _, err = show(config_path, capsys, "--html", str(tmp_path / "no" / "such" / "x.html"))
    assert code == 2 and "does not exist" in err
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("storage, why", [
    ("", "[study] storage is not set"),
    ("sqlite:///{dir}/optuna.db", "no study named 'nope' in the shared study storage"),
    ("sqlite:///{dir}/missing.db", "missing.db does not exist"),  # a read creates no database
])
def test_study_sync_refuses_with_one_line(config_path: Path, capsys: pytest.CaptureFixture[str],
                                          storage: str, why: str) -> None:
    url = storage.format(dir=config_path.parent)
    config_path.write_text(f'[study]\nstorage = "{url}"\n' if url else "")
    if url.endswith("optuna.db"):  # an existing storage, holding another study
        import optuna

        optuna.create_study(storage=url, study_name="other")
        capsys.readouterr()  # optuna's own log line
    code = main(["--config", str(config_path), "study", "sync", "--study", "nope"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and why in err, err
    assert "Traceback" not in err
