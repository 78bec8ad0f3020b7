"""Retention (engine.supervisor.retention): real files, a real store, a real supervisor."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.config import Config, ConfigError
from engine.supervisor import retention
from store import registry
from store.alerts import insert_alert, recent_alerts
from store.commands import get_command, record_done
from store.db import Store
from store.outbox import enqueue, mark_failed, mark_sent, recent

DAY = 86400.0


def _file(path: Path, age_s: float, size: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    t = time.time() - age_s
    os.utime(path, (t, t))
    return path


def test_old_trial_logs_go_and_nothing_else(make_config: Callable[..., Config],
                                            tmp_path: Path) -> None:
    cfg = make_config("[retention]\ntrial_logs_days = 14\n")
    logs = Path(cfg.paths.logs)
    old = _file(logs / "trial-s1-3.log", 15 * DAY)
    old_backup = _file(logs / "trial-s1-3.log.2", 20 * DAY)
    dotted = _file(logs / "trial-a.log-7.log", 15 * DAY)
    fresh = _file(logs / "trial-s1-4.log", 13 * DAY)
    in_use = _file(logs / "trial-s1-5.log", 30 * DAY)        # a child still writes it
    in_use_backup = _file(logs / "trial-s1-5.log.1", 30 * DAY)
    trader = _file(logs / "trader-btc.log", 60 * DAY)         # bounded by rotation already
    supervisor = _file(logs / "supervisor.log", 60 * DAY)
    nested = _file(logs / "sub" / "trial-s1-6.log", 60 * DAY)
    elsewhere = _file(tmp_path / "outside" / "trial-s1-7.log", 60 * DAY)
    link = logs / "trial-s1-8.log"
    link.symlink_to(elsewhere)
    driven = _file(logs / "trial-s2-1.log", 30 * DAY)  # a driver's direct worker, running
    with Store(cfg.store.path) as store:
        registry.start_attempt(store, "s2", 1, {}, process="trial-s2-1")
        swept = retention.sweep(cfg, store, time.time(), [in_use])
    assert sorted(swept.logs) == sorted([old.name, old_backup.name, dotted.name])
    for p in (old, old_backup, dotted):
        assert not p.exists()
    for p in (fresh, in_use, in_use_backup, driven, trader, supervisor, nested, elsewhere):
        assert p.exists(), p
    assert link.is_symlink() and elsewhere.read_bytes() == b"x" * 100


def test_zero_days_keeps_every_log_and_row(make_config: Callable[..., Config]) -> None:
    cfg = make_config("[retention]\ntrial_logs_days = 0\noutbox_days = 0\ncommands_days = 0\n"
                      "alerts_days = 0\nfinished_checkpoints = false\n")
    old = _file(Path(cfg.paths.logs) / "trial-s-1.log", 3650 * DAY)
    with Store(cfg.store.path) as store:
        sent = enqueue(store, "fill", "info", "t", "b", silent=False, at=1.0)
        mark_sent(store, sent, at=2.0)
        insert_alert(store, None, "WARNING", "ancient", 1.0)
        swept = retention.sweep(cfg, store, time.time(), [])
        assert not swept.any() and len(recent(store)) == 1 and len(recent_alerts(store)) == 1
    assert old.exists()


def test_alerts_days_below_a_month_is_refused(make_config: Callable[..., Config]) -> None:
    with pytest.raises(ConfigError, match="alerts_days"):
        make_config("[retention]\nalerts_days = 7\n")


def _finished_trial(cfg: Config, store: Store, trial: int, state: str,
                    files: int = 2) -> list[Path]:
    folder = Path(cfg.paths.models) / "s" / f"trial-{trial}"
    att = registry.start_attempt(store, "s", trial, {})
    paths = []
    for step in range(1, files + 1):
        p = _file(folder / "checkpoints" / f"ckpt-{step:09d}.pt", 0, size=1000)
        registry.add_checkpoint(store, "s", trial, att.attempt, step, str(p))
        paths.append(p)
    for name in ("evidence.npz", "metrics.json", "spec.json", "params.json", "model.pt"):
        _file(folder / name, 0)
    if state != "RUNNING":
        registry.end_attempt(store, att.id, state)
    return paths


def test_checkpoints_of_finished_trials_go_evidence_and_models_stay(
        make_config: Callable[..., Config], tmp_path: Path) -> None:
    cfg = make_config("[retention]\ncheckpoints_after_s = 0\n")
    models = Path(cfg.paths.models)
    with Store(cfg.store.path) as store:
        done = [p for t, s in enumerate(("COMPLETE", "PRUNED", "FAILED"))
                for p in _finished_trial(cfg, store, t, s)]
        running = _finished_trial(cfg, store, 3, "RUNNING")
        # a forged row naming a file outside [paths] models: the row goes, the file stays
        outside = _file(tmp_path / "precious" / "ckpt-000000001.pt", 0)
        registry.add_checkpoint(store, "s", 0, 1, 99, str(outside))
        swept = retention.sweep(cfg, store, time.time() + 1, [])
        assert swept.checkpoints == 6 and swept.checkpoint_bytes == 6000
        assert all(not p.exists() for p in done)
        assert all(p.exists() for p in running)
        assert outside.exists()
        assert [r.path for r in registry.list_checkpoints(store, "s", 3)] == [
            str(p) for p in reversed(running)]
        assert all(registry.list_checkpoints(store, "s", t) == [] for t in range(3))
        for t in range(4):  # what the gate, promotions and traders read is all there
            for name in ("evidence.npz", "metrics.json", "spec.json", "params.json",
                         "model.pt"):
                assert (models / "s" / f"trial-{t}" / name).exists()
        assert not (models / "s" / "trial-0" / "checkpoints").exists()


def test_checkpoints_wait_for_the_grace_after_the_trial_ended(
        make_config: Callable[..., Config]) -> None:
    cfg = make_config("[retention]\ncheckpoints_after_s = 600\n")
    with Store(cfg.store.path) as store:
        kept = _finished_trial(cfg, store, 0, "COMPLETE")
        assert retention.sweep(cfg, store, time.time(), []).checkpoints == 0
        assert all(p.exists() for p in kept)
        assert retention.sweep(cfg, store, time.time() + 601, []).checkpoints == 2


@pytest.mark.slow
def test_the_running_supervisor_prunes_at_its_tick(harness) -> None:
    h = harness("[retention]\ncheckpoints_after_s = 0\n")
    cfg: Config = h.cfg
    logs = Path(cfg.paths.logs)
    old_log = _file(logs / "trial-s-0.log", 15 * DAY)
    new_log = _file(logs / "trial-s-1.log", 1 * DAY)
    now = time.time()
    with Store(cfg.store.path) as store:
        ckpts = _finished_trial(cfg, store, 0, "COMPLETE")
        live = _finished_trial(cfg, store, 1, "RUNNING")
        old_sent = enqueue(store, "fill", "info", "t", "old", silent=False, at=now - 40 * DAY)
        mark_sent(store, old_sent, at=now - 40 * DAY)
        held = enqueue(store, "fill", "info", "t", "outage, old", silent=False,
                       at=now - 40 * DAY)
        mark_failed(store, held, next_try_at=now + DAY, error="down")
        enqueue(store, "fill", "info", "t", "never tried, old", silent=False, at=now - 40 * DAY)
        done = record_done(store, "start", "x", None, "ok")
        insert_alert(store, "t", "WARNING", "old warning", now - 100 * DAY)
        insert_alert(store, "t", "OK", "latest", now - DAY)
    h.supervise(production=True)  # cappuccino supervise itself
    h.wait_for(lambda: not old_log.exists() and not any(p.exists() for p in ckpts),
               timeout=60, what="the prune tick")
    assert new_log.exists() and all(p.exists() for p in live)
    with Store(cfg.store.path) as store:
        h.wait_for(lambda: [r.body for r in recent(store)] == ["outage, old"],
                   timeout=30, what="the outbox pruned")
        assert [a.message for a in recent_alerts(store)] == ["latest"]
        assert get_command(store, done) is not None  # done just now: kept


def test_a_backlog_goes_a_bounded_batch_per_tick(make_config: Callable[..., Config]) -> None:
    cfg = make_config("[retention]\ncheckpoints_after_s = 0\n")
    logs = [_file(Path(cfg.paths.logs) / f"trial-s-{i}.log", 30 * DAY) for i in range(5)]
    with Store(cfg.store.path) as store:
        ckpts = _finished_trial(cfg, store, 0, "COMPLETE", files=5)
        later = time.time() + 1
        assert retention.drop_checkpoints(cfg, store, later, limit=2) == (2, 2000)
        assert len(retention.old_trial_logs(Path(cfg.paths.logs), later - 14 * DAY, [],
                                            limit=2)) == 2
        assert sum(p.exists() for p in ckpts) == 3
        swept = retention.sweep(cfg, store, later, [])
        assert swept.checkpoints == 3 and len(swept.logs) == 5
    assert not any(p.exists() for p in [*ckpts, *logs])
