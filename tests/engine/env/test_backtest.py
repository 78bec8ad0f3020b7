"""The backtester runs the training env's step code; benchmarks checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config.schema import EnvSection, FeaturesSection
from engine.data.synthetic import synthetic_candles
from engine.env.backtest import backtest, min_start
from engine.env.vec_env import PortfolioVecEnv
from engine.features import FeatureSpec, compute_features, feature_spec

SPEC = FeatureSpec(indicators=("ret_1",), dropped=(), lookback=1, norm_window=1, clip=5.0)


def test_benchmarks_and_idle_policy_by_hand() -> None:
    prices = np.array([[1.0, 1.0], [100, 100], [200, 100], [200, 50]])
    res = backtest(lambda obs: np.zeros((1, 2)), prices, np.zeros((4, 2, 1), np.float32), SPEC,
                   EnvSection(initial_cash=1000.0), start=0)
    assert (res.start, res.stop) == (1, 4)               # raised to the first valid bar
    np.testing.assert_allclose(res.equity, [1000, 1000, 1000])
    # Equal weight, rebalanced every bar: ×mean(2, 1) then ×mean(1, 0.5).
    np.testing.assert_allclose(res.equal_weight, [1000, 1500, 1125])
    # Buy and hold an equal split: 5 + 5 units.
    np.testing.assert_allclose(res.hodl, [1000, 1500, 1250])
    assert res.trades == 0 and res.fees == 0.0 and res.total_return == 0.0
    np.testing.assert_allclose(res.returns, [0.0, 0.0])


def test_backtest_matches_the_vec_env_step_by_step() -> None:
    candles = synthetic_candles(("BTC-USD", "ETH-USD", "SOL-USD"), 700, "5m", seed=2)
    spec = feature_spec(FeaturesSection(lookback=2, norm_window=32), candles)
    feats = compute_features(candles, spec)
    env_cfg = EnvSection(max_trade_fraction=0.3)
    w = np.random.default_rng(0).normal(size=(3, 1 + 3 + 2 * 3 * spec.n_features))

    def policy(obs: np.ndarray) -> np.ndarray:
        return np.tanh(obs.astype(np.float64) @ w.T)

    start, stop = 200, 600
    res = backtest(policy, candles.close, feats, spec, env_cfg, start=start, stop=stop)
    env = PortfolioVecEnv(torch.from_numpy(candles.close[:stop]), torch.from_numpy(feats[:stop]),
                          spec, env_cfg, 1, episode_len=stop - 1 - start, start=start)
    obs = env.reset()
    equity, fees, trades = [env_cfg.initial_cash], 0.0, 0
    for _ in range(stop - start - 1):
        obs, _r, _d, info = env.step(torch.from_numpy(policy(obs.numpy())))
        equity.append(float(info["equity"][0]))
        fees += float(info["fees"][0])
        trades += int(info["trades"][0])
    assert res.trades == trades > 100
    np.testing.assert_allclose(res.equity, equity, rtol=1e-9)
    assert res.fees == pytest.approx(fees, rel=1e-9)
    assert res.start == start and len(res.equity) == stop - start
    assert min_start(spec) == spec.warmup + spec.lookback - 1
