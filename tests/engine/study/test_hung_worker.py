"""A worker stuck inside a training step (test-only fault hang_at_update) is killed by the
study driver past [trials] time_limit_s plus grace; the trial FAILS with "TimeLimit", the
study ends normally, and a second store on the same shared storage mirrors the outcome
with the worker's host."""

from __future__ import annotations

import socket
from pathlib import Path

import optuna
import psutil
import pytest

from engine.study.runner import TIME_LIMIT, StudyRun, hang_deadline_s, run_study
from store import registry

from .conftest import TINY  # type: ignore[import-not-found]


def test_hung_worker_is_killed_and_its_trial_fails(make_config, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    tiny = (TINY.replace("[ppo]\n", "[ppo]\nsearch = false\n")
            .replace("[study]\n", f'[study]\npruning = false\nstorage = "{url}"\n')
            .replace("[trials]\n", "[trials]\ntime_limit_s = 10\nhang_grace_s = 0.5\n"))
    cfg = make_config(f'[store]\npath = "a/cappuccino.db"\n{tiny}', name="a.toml")
    # 10 s: a worker on a loaded 2-core machine can take 5 s just to import torch
    assert hang_deadline_s(cfg) >= 10.5
    monkeypatch.setenv("CAPPUCCINO_FAULT", "hang_at_update=1")
    logs: list[str] = []
    study = run_study(cfg, "hang", "5m", 1, launcher="direct", log=logs.append)

    from store.db import Store

    with Store(cfg.store.path) as s:
        (att,) = registry.list_attempts(s, "hang", 0)
    assert (att.state, att.error_class) == ("FAILED", TIME_LIMIT)
    assert "time limit of 10 s" in (att.error_message or "") and att.ended_at
    assert att.ended_at - att.started_at >= 3  # it did start; the driver waited
    assert att.pid and not psutil.pid_exists(att.pid)  # its process group was killed
    log = (Path(cfg.paths.logs) / "trial-hang-0.log").read_text()
    assert "hanging inside update 1" in log  # it really was stuck, not merely slow
    assert study.best_value is None and any("killed by the study driver" in m for m in logs)
    trial = optuna.load_study(study_name="hang", storage=url).trials[0]
    assert trial.state == optuna.trial.TrialState.FAIL
    assert trial.user_attrs["error"]["class"] == TIME_LIMIT

    # another host's store sees the trial, with the host its worker recorded
    other = make_config(f'[store]\npath = "b/cappuccino.db"\n{tiny}', name="b.toml")
    run = StudyRun(other, "hang", "5m", 1, launcher="direct", log=lambda m: None)
    try:
        run.mirror_remote()
        (seen,) = registry.list_attempts(run.store, "hang")
    finally:
        run.close()
    assert (seen.state, seen.error_class, seen.host, seen.mirrored) == (
        "FAILED", TIME_LIMIT, socket.gethostname(), 1)
    assert seen.device == "cpu"
