"""The backtester runs the training env's step code; benchmarks checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config.schema import EnvSection, FeaturesSection
from engine.data.synthetic import synthetic_candles
from engine.env.backtest import backtest, min_start
from engine.env.step import NumpyOps, step_params, trade_step
from engine.env.vec_env import PortfolioVecEnv
from engine.features import FeatureSpec, compute_features, feature_spec, observation

SPEC = FeatureSpec(indicators=("ret_1",), dropped=(), lookback=1, norm_window=1, clip=5.0)


def test_benchmarks_and_idle_policy_by_hand() -> None:
    prices = np.array([[1.0, 1.0], [100, 100], [200, 100], [200, 50]])
    res = backtest(lambda obs: np.zeros((1, 2)), prices, np.zeros((4, 2, 1), np.float32), SPEC,
                   EnvSection(initial_cash=1000.0, action_mapping="delta"), start=0)
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


@pytest.mark.parametrize("min_order", [1.0, 0.0])
def test_fast_one_env_path_equals_observation_and_the_generic_step(min_order: float) -> None:
    """Bit for bit: the backtest's observations and one-env ops against
    engine.features.observation and NumpyOps (the batched numpy path) run bar by bar."""
    candles = synthetic_candles(("BTC-USD", "ETH-USD", "SOL-USD", "LTC-USD"), 600, "5m", seed=4)
    spec = feature_spec(FeaturesSection(lookback=3, norm_window=32), candles)
    feats = compute_features(candles, spec)
    env_cfg = EnvSection(max_trade_fraction=0.5, min_order_value=min_order, fee_rate=0.004)
    w = np.random.default_rng(1).normal(size=(4, 1 + 4 + 3 * 4 * spec.n_features)) * 3.0
    seen: list[np.ndarray] = []

    def policy(obs: np.ndarray) -> np.ndarray:
        seen.append(obs.copy())
        act = np.tanh(obs.astype(np.float64) @ w.T)
        act[0, 3] = np.nan if len(seen) % 7 == 0 else act[0, 3] * 2.0  # NaN and clipping
        return act

    res = backtest(policy, candles.close, feats, spec, env_cfg)
    close, initial = candles.close, env_cfg.initial_cash
    prm = step_params(env_cfg, env_cfg.reward_scaling / initial)
    assert prm.weights and prm.delay and prm.fee == pytest.approx(0.004 + 0.0001)
    cash, holdings = np.float64(initial), np.zeros(4)
    equity, fees, trades = [initial], 0.0, 0
    for i, t in enumerate(range(res.start, res.stop - 1)):
        want = observation(feats[t - spec.lookback + 1:t + 1], float(cash), holdings, close[t],
                           initial)
        assert seen[i].shape == (1, want.size) and np.array_equal(seen[i][0], want)
        act = np.tanh(want.astype(np.float64) @ w.T)
        act[3] = 0.0 if (i + 1) % 7 == 0 else min(1.0, max(-1.0, act[3] * 2.0))
        out = trade_step(NumpyOps, prm, close[t], close[t + 1], cash, holdings, act,
                         res.equal_weight[i], res.equal_weight[i + 1])
        cash, holdings = out.cash, out.holdings
        equity.append(float(out.value1))
        fees += float(out.fees)
        trades += int(out.trades)
    assert len(seen) == len(equity) - 1 and trades == res.trades > 50
    assert np.array_equal(res.equity, np.array(equity)) and fees == res.fees


@pytest.mark.parametrize("delay", [True, False])
def test_changing_the_future_never_changes_the_past(delay: bool) -> None:
    # Lookahead, from outside: rewrite every price after bar k + 1 (features recomputed from
    # the changed candles). Decisions, equity and the training env's rewards up to bar k + 1
    # must not move: a decision at bar t sees bars <= t, and its fill and reward use t + 1.
    from dataclasses import replace

    candles = synthetic_candles(("BTC-USD", "ETH-USD"), 900, "5m", seed=4)
    spec = feature_spec(FeaturesSection(lookback=3, norm_window=64), candles)
    env_cfg = EnvSection(execution_delay=delay)
    w = np.random.default_rng(1).normal(size=(2, 1 + 2 + 3 * 2 * spec.n_features))
    seen: list[np.ndarray] = []

    def policy(obs: np.ndarray) -> np.ndarray:
        seen.append(obs.copy())
        return np.tanh(3 * obs.astype(np.float64) @ w.T)

    start, stop, k = 300, 800, 550
    changed = candles.close.copy()
    changed[k + 2:] *= np.random.default_rng(2).uniform(0.5, 1.5, changed[k + 2:].shape)
    runs = []
    for close in (candles.close, changed):
        c = replace(candles, close=close)
        feats = compute_features(c, spec)
        seen.clear()
        res = backtest(policy, close, feats, spec, env_cfg, start=start, stop=stop)
        env = PortfolioVecEnv(torch.from_numpy(close), torch.from_numpy(feats), spec, env_cfg,
                              1, episode_len=stop - 1 - start, start=start)
        obs, rewards = env.reset(), []
        for _ in range(stop - 1 - start):
            obs, r, _d, _i = env.step(torch.from_numpy(policy(obs.numpy())))
            rewards.append(float(r[0]))
        runs.append((res.equity, np.stack(seen[:stop - 1 - start]), np.array(rewards)))
    (eq0, obs0, rw0), (eq1, obs1, rw1) = runs
    past = k + 1 - start                       # index of bar k + 1
    assert eq0[:past + 1].tolist() == eq1[:past + 1].tolist()
    assert np.array_equal(obs0[:past + 1], obs1[:past + 1])     # decisions at bars <= k + 1
    assert rw0[:past].tolist() == rw1[:past].tolist()           # rewards of steps t <= k
    assert eq0[past + 1] != eq1[past + 1] and rw0[past] != rw1[past]  # the change is seen next
