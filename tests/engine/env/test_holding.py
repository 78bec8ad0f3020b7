"""Doing nothing is the easy policy (issue: a random policy lost 73 % of a held-out week to
fees). On the bundled real closes, default config (target weights, no-trade band, paper-sim
costs, execution delay), over the last three weeks:

- a random policy (an untrained actor's mean plus the default exploration noise, drawn
  afresh every `[ppo] noise_hold` bars and held in between, as PPO explores) pays under 1 %
  of its capital in fees and spread a week (about 0.8 % at the default band of 0.2,
  0.6 % of it the first purchase of the benchmark; noise drawn every bar: 9-11 %);
- the untrained actor (its deterministic mean) ends within 1 % of equal weight and HODL;
- the old delta mapping, kept for comparison, loses a large part of the week to costs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.agent.policy import numpy_policy
from engine.config import Config
from engine.data.load import load_candles
from engine.env.backtest import backtest
from engine.features import compute_features, feature_spec, obs_dim
from engine.model.network import Actor

WEEK = 2016  # 5-minute bars


@pytest.fixture(scope="module")
def weeks():  # type: ignore[no-untyped-def]
    cfg = Config()
    candles = load_candles(cfg)
    spec = feature_spec(cfg.features, candles)
    out = []
    for k in range(3):
        hi = candles.n_bars - k * WEEK
        part = candles.slice(hi - WEEK - spec.history - 1, hi)
        out.append((part, compute_features(part, spec)))
    return cfg, spec, out


def run(cfg, spec, part, feats, act, env=None):  # type: ignore[no-untyped-def]
    return backtest(act, part.close, feats, spec, env or cfg.env, start=part.n_bars - WEEK - 1)


def test_a_random_policy_loses_under_one_percent_a_week_to_costs(weeks) -> None:  # type: ignore[no-untyped-def]
    cfg, spec, parts = weeks
    std = float(np.exp(cfg.ppo.init_log_std))
    for part, feats in parts:
        n = part.n_assets
        for seed in range(3):
            torch.manual_seed(seed)
            mean = numpy_policy(Actor(obs_dim(spec, n), n, cfg.ppo.hidden, cfg.ppo.init_log_std))
            rng = np.random.default_rng(seed)
            held: list[np.ndarray] = []

            def act(obs: np.ndarray) -> np.ndarray:
                if len(held) % cfg.ppo.noise_hold == 0:  # noqa: B023
                    held.append(rng.normal(0.0, std, (1, n)))  # noqa: B023
                else:
                    held.append(held[-1])  # noqa: B023
                return mean(obs) + held[-1]  # noqa: B023

            res = run(cfg, spec, part, feats, act)
            assert len(res.equity) == WEEK + 1
            assert res.fees / cfg.env.initial_cash < 0.01, (seed, res.fees, res.trades)


def test_an_untrained_policy_scores_about_the_benchmark(weeks) -> None:  # type: ignore[no-untyped-def]
    cfg, spec, parts = weeks
    for part, feats in parts:
        n = part.n_assets
        torch.manual_seed(0)
        mean = numpy_policy(Actor(obs_dim(spec, n), n, cfg.ppo.hidden, cfg.ppo.init_log_std))
        res = run(cfg, spec, part, feats, mean)
        ew = res.equal_weight[-1] / res.equal_weight[0] - 1
        hodl = res.hodl[-1] / res.hodl[0] - 1
        assert abs(res.total_return - ew) < 0.01 and abs(res.total_return - hodl) < 0.01
        assert res.trades >= n   # it did buy the benchmark (it is not sitting in cash)


def test_the_old_delta_mapping_churns(weeks) -> None:  # type: ignore[no-untyped-def]
    cfg, spec, parts = weeks
    part, feats = parts[0]
    n = part.n_assets
    rng = np.random.default_rng(0)
    std = float(np.exp(-0.5))   # its own former default exploration std

    def act(obs: np.ndarray) -> np.ndarray:
        return rng.normal(0.0, std, (1, n))

    old = run(cfg, spec, part, feats, act, cfg.env.model_copy(update={"action_mapping": "delta"}))
    assert old.fees / cfg.env.initial_cash > 0.3
