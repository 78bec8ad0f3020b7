"""The trial objective in-process: splits, time limit, resume, orphan detection, CLI usage."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from engine.agent.hyperparams import Hyperparams
from engine.cli.main import main
from engine.data.synthetic import synthetic_candles
from engine.metrics import sharpe
from engine.study.objective import (
    Hooks,
    SegmentEnv,
    TimeLimitError,
    TrialRunner,
    prepare_data,
    select_splits,
)
from engine.study.runner import StudyRun
from store import registry
from store.db import Store

from .conftest import TINY  # type: ignore[import-not-found]


@pytest.fixture
def setup(make_config):  # type: ignore[no-untyped-def]
    cfg = make_config(TINY.replace("[ppo]\n", "[ppo]\nsearch = false\n"))
    data = prepare_data(cfg, synthetic_candles(cfg.data.tickers, 3000, "5m", 7))
    return cfg, data


def test_splits_are_fixed_and_training_stays_inside_train_segments(setup) -> None:  # type: ignore[no-untyped-def]
    cfg, data = setup
    splits = select_splits(cfg, data)
    assert len(splits) == 2 and splits == select_splits(cfg, data)
    assert data.embargo == max(cfg.study.embargo_bars, data.spec.history)
    assert data.holdout[0] >= data.cv[1] + data.embargo
    for s in splits:
        env = SegmentEnv(data.prices, data.features, data.spec, cfg.env, 8, "cpu", 64, 0,
                         segments=s.train)
        starts = set(env.allowed.tolist())
        for t in starts:  # the whole episode [t, t + 64] lies in one training segment
            assert any(a <= t and t + 64 < b for a, b in s.train)
        for a, b in s.test:  # no episode overlaps a test block or the embargo after it
            assert not any(a - 64 <= t < b + data.embargo for t in starts)


def test_runner_reports_each_split_and_returns_metrics(setup) -> None:  # type: ignore[no-untyped-def]
    cfg, data = setup
    reports: list[tuple[int, float]] = []

    class Rec(Hooks):
        def report(self, split: int, value: float) -> None:
            reports.append((split, value))

    runner = TrialRunner(cfg, data, Hyperparams.from_config(cfg.ppo), hooks=Rec())
    m = runner.run()
    assert [s for s, _ in reports] == [0, 1]
    scores = m["split_scores"]
    assert reports[-1][1] == pytest.approx(sum(scores) / 2)  # pruning sees the running mean
    # the objective: mean - one standard error over splits (one seed each here)
    se = float(np.std(scores, ddof=1)) / np.sqrt(2)
    assert m["objective"] == pytest.approx(float(np.mean(scores)) - se)
    for i, sm in enumerate(m["splits"]):  # the Sharpe of active returns, not a difference
        active = runner.trace.splits[i].active[0]
        assert sm["score"] == pytest.approx(sharpe(active, data.bar_seconds))
        assert sm["score"] != pytest.approx(sm["sharpe"] - sm["ew_sharpe"])
    # 2 splits x 1 seed, then the final fit on every CV bar: 4 updates each
    assert runner.progress == 1.0 and m["updates"] == runner.total_updates == 12
    assert runner.trace.holdout_active is not None and len(runner.trace.curve) == 4


def test_seeds_train_each_split_several_times_and_report_their_spread(setup) -> None:  # type: ignore[no-untyped-def]
    cfg, data = setup
    cfg = cfg.model_copy(update={"study": cfg.study.model_copy(update={"seeds": 2,
                                                                       "max_splits": 1})})
    runner = TrialRunner(cfg, data, Hyperparams.from_config(cfg.ppo))
    m = runner.run()
    a, b = runner.trace.splits[0].active
    assert len(m["split_scores"]) == 2 and not np.allclose(a, b)  # two seeds, two agents
    assert m["seed_spread"] == pytest.approx(float(np.std(m["seed_scores"], ddof=1)))
    assert m["updates"] == 3 * 4


def test_time_limit_fails_the_trial(make_config) -> None:  # type: ignore[no-untyped-def]
    cfg = make_config(TINY.replace("[trials]\n", "[trials]\ntime_limit_s = 0.001\n"))
    data = prepare_data(cfg, synthetic_candles(cfg.data.tickers, 3000, "5m", 7))

    class Slow(Hooks):
        def on_update(self, runner) -> None:  # type: ignore[no-untyped-def]
            time.sleep(0.01)

    with pytest.raises(TimeLimitError, match="time limit"):
        TrialRunner(cfg, data, Hyperparams.from_config(cfg.ppo), hooks=Slow()).run()


def test_resume_mid_split_continues_from_the_saved_update(setup) -> None:  # type: ignore[no-untyped-def]
    cfg, data = setup
    hp = Hyperparams.from_config(cfg.ppo)
    saved: dict = {}

    class Stop(Exception):
        pass

    class SaveAt3(Hooks):
        def on_update(self, runner) -> None:  # type: ignore[no-untyped-def]
            if runner.global_updates == 3:
                saved.update(runner.state())
                raise Stop

    with pytest.raises(Stop):
        TrialRunner(cfg, data, hp, hooks=SaveAt3()).run()
    seen: list[int] = []

    class Count(Hooks):
        def on_update(self, runner) -> None:  # type: ignore[no-untyped-def]
            seen.append(runner.global_updates)

    r = TrialRunner(cfg, data, hp, hooks=Count())
    r.restore(saved)
    assert r.agent is not None and r.agent.updates == 3
    r.run()
    assert seen == list(range(4, 13))


def test_driver_finds_orphaned_attempts_by_stale_heartbeat_and_dead_pid(make_config) -> None:  # type: ignore[no-untyped-def]
    cfg = make_config(TINY.replace("[trials]\n", "[trials]\nheartbeat_timeout_s = 1\n"))
    run = StudyRun(cfg, "orph", "5m", 1, launcher="direct", log=lambda m: None)
    try:
        import socket

        host = socket.gethostname()
        dead = registry.start_attempt(run.store, "orph", 0, {}, pid=2**22 + 7, host=host)
        alive = registry.start_attempt(run.store, "orph", 1, {}, pid=os.getpid(), host=host)
        fresh = registry.start_attempt(run.store, "orph", 2, {}, pid=2**22 + 9, host=host)
        old = time.time() - 30
        for a in (dead, alive):
            registry.update_attempt(run.store, a.id, heartbeat_at=old)
        assert fresh.heartbeat_at and run.orphans() == [0]
    finally:
        run.close()
    with Store(cfg.store.path) as s:
        assert registry.get_study(s, "orph").storage.startswith("journal:")


def test_train_usage_errors_exit_2(config_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--config", str(config_path), "train", "--study", "bad name!"]) == 2
    assert "--study" in capsys.readouterr().err
    assert main(["--config", str(config_path), "train", "--n-trials", "0"]) == 2
    assert "--n-trials" in capsys.readouterr().err


def test_train_with_bad_data_fails_up_front(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "cappuccino.toml"
    path.write_text('[data]\nsource = "csv"\npath = "missing.csv"\n')
    assert main(["--config", str(path), "train", "--study", "s", "--direct"]) == 1
    err = capsys.readouterr().err
    assert "missing.csv" in err and err.count("\n") == 1


def test_a_seeded_trial_is_reproducible(setup) -> None:  # type: ignore[no-untyped-def]
    cfg, data = setup
    hp = Hyperparams.from_config(cfg.ppo)
    a = TrialRunner(cfg, data, hp, seed=3)
    b = TrialRunner(cfg, data, hp, seed=3)
    ma, mb = a.run(), b.run()
    assert ma["split_scores"] == mb["split_scores"] and ma["objective"] == mb["objective"]
    assert np.array_equal(a.trace.active_returns(), b.trace.active_returns())
    assert np.array_equal(a.trace.holdout_active, b.trace.holdout_active)  # type: ignore[arg-type]
    other = TrialRunner(cfg, data, hp, seed=4)
    other.run()
    assert not np.array_equal(a.trace.active_returns(), other.trace.active_returns())


def test_max_splits_zero_uses_every_cpcv_split(setup) -> None:  # type: ignore[no-untyped-def]
    cfg, data = setup
    every = cfg.model_copy(update={"study": cfg.study.model_copy(update={"max_splits": 0})})
    splits = select_splits(every, data)
    assert len(splits) == 4  # C(4 groups, 1 test group)
    assert sorted(g for s in splits for g in s.test_groups) == [0, 1, 2, 3]
