"""A failed Optuna `tell` is logged and told again; no trial stays RUNNING silently.

The storage error is real: Optuna's own SQLite study file held under an exclusive lock by
another connection (as a long writer on a shared storage would), with the real store.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

from engine.config import Config
from engine.study.tell import retell_finished, tell
from store import registry
from store.db import Store

STUDY = "s"


def _study(path: Path) -> optuna.Study:
    storage = optuna.storages.RDBStorage(
        f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 0.2}})
    return optuna.create_study(storage=storage, study_name=STUDY, load_if_exists=True)


def _running(path: Path) -> list[int]:
    fresh = _study(path)  # a new connection: what other hosts see
    return [t.number for t in fresh.get_trials(states=(optuna.trial.TrialState.RUNNING,))]


def test_a_tell_that_fails_on_storage_is_logged_then_told_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    db = tmp_path / "optuna.db"
    study = _study(db)
    trials = [study.ask().number for _ in range(3)]
    store = Store(tmp_path / "c.db")
    registry.upsert_study(store, STUDY, "sqlite", "5m", 3)
    for n, state in zip(trials, ("COMPLETE", "PRUNED", "RUNNING"), strict=True):
        att = registry.start_attempt(store, STUDY, n, {})
        if state != "RUNNING":
            registry.end_attempt(store, att.id, state, objective=1.5 if n == 0 else None)

    lock = sqlite3.connect(db)
    lock.execute("BEGIN EXCLUSIVE")
    with caplog.at_level(logging.WARNING, logger="cappuccino.study"):
        told = [tell(study, 0, "COMPLETE", 1.5, tries=3, wait_s=0.0),
                tell(study, 1, "PRUNED", None, tries=3, wait_s=0.0)]
    lock.rollback()
    lock.close()

    assert told == [False, False]
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    # three tries of the same error for trial 0 are one line; trial 1's same error adds none
    assert len(failures) == 1, failures
    assert "trial 0 COMPLETE" in failures[0] and "locked" in failures[0]
    assert _running(db) == [0, 1, 2]  # what a silent failure used to leave behind

    # The driver tells again from the store's final attempts (after a worker exits: that
    # trial only; at start: all); the trial still running is left alone.
    assert retell_finished(study, store, STUDY, [1], wait_s=0.0) == [1]
    assert _running(db) == [0, 2]
    assert retell_finished(study, store, STUDY, wait_s=0.0) == [0]
    assert _running(db) == [2]
    done = {t.number: t for t in _study(db).get_trials()}
    assert done[0].state == optuna.trial.TrialState.COMPLETE and done[0].value == 1.5
    assert done[1].state == optuna.trial.TrialState.PRUNED
    assert retell_finished(study, store, STUDY, wait_s=0.0) == []
    # Telling a trial Optuna already finished (the worker did, then the driver) is no error.
    assert tell(study, 0, "COMPLETE", 1.5, tries=1) is True
    store.close()


def test_a_tell_that_recovers_within_its_tries_is_told(tmp_path: Path) -> None:
    db = tmp_path / "optuna.db"
    study = _study(db)
    n = study.ask().number
    lock = sqlite3.connect(db)
    lock.execute("BEGIN EXCLUSIVE")

    def release(_s: float) -> None:  # the lock holder commits between the tries
        lock.rollback()

    assert tell(study, n, "FAILED", None, tries=2, wait_s=0.0, sleep=release) is True
    lock.close()
    assert _study(db).trials[n].state == optuna.trial.TrialState.FAIL


def test_the_study_driver_tells_what_an_earlier_run_left_running(
        make_config: Callable[..., Config]) -> None:
    """An earlier driver recorded the trial's end here but its tell never reached Optuna:
    the next `train` on the study (here with nothing new to run) tells it first."""
    from engine.runtime import open_store
    from engine.study.runner import run_study
    from engine.study.storage import open_study

    cfg = make_config()
    n = open_study(cfg, STUDY).ask().number
    store = open_store(cfg)
    registry.upsert_study(store, STUDY, "journal", "5m", 1)
    att = registry.start_attempt(store, STUDY, n, {})
    registry.end_attempt(store, att.id, "COMPLETE", objective=0.25)
    store.close()

    said: list[str] = []
    run_study(cfg, STUDY, "5m", 0, launcher="direct", log=said.append)

    trial = open_study(cfg, STUDY, create=False).trials[n]
    assert trial.state == optuna.trial.TrialState.COMPLETE and trial.value == 0.25
    assert f"trial {n}: told Optuna its outcome again" in said
