"""PortfolioVecEnv semantics checked by hand on tiny inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config.schema import EnvSection
from engine.features import FeatureSpec

# One indicator, lookback 1, norm window 1: warmup 1, so the first usable bar is 1.
SPEC = FeatureSpec(indicators=("ret_1",), dropped=(), lookback=1, norm_window=1, clip=5.0)


def make_env(prices: list[list[float]], n_envs: int = 1, start: int | None = 1,
             episode_len: int | None = None, **env: object):  # type: ignore[no-untyped-def]
    from engine.env.vec_env import PortfolioVecEnv

    if start is not None:  # room after the steps a test makes, so no auto-reset wipes them
        prices = prices + [prices[-1]] * 4
    p = torch.tensor(prices, dtype=torch.float64)
    feats = torch.zeros(p.shape[0], p.shape[1], 1)
    # The original delta mapping, no spread, no delay: the by-hand numbers below (the
    # target-weight mapping and the delay are checked in test_step.py).
    cfg = EnvSection(**{"initial_cash": 1000.0, "fee_rate": 0.01, "min_order_value": 1.0,
                        "max_trade_fraction": 1.0, "reward_scaling": 100.0,
                        "action_mapping": "delta", "spread_bps": 0.0,
                        "execution_delay": False, **env})
    e = PortfolioVecEnv(p, feats, SPEC, cfg, n_envs=n_envs, episode_len=episode_len, seed=3,
                        start=start)
    e.reset()
    return e


def act(*a: float) -> torch.Tensor:
    return torch.tensor([a], dtype=torch.float32)


def test_sells_execute_before_buys_and_reward_formula() -> None:
    env = make_env([[1, 1], [100, 50], [110, 50]])
    env.cash[:] = 0.0
    env.holdings[:] = torch.tensor([[5.0, 0.0]])
    # Equity 500. Sell all 5 of asset 0 (500 -> 495 after the 1% fee); buy asset 1 for up to
    # 500, which only the sale's proceeds can pay for: scaled to 495 / 1.01 = 490.0990...
    _obs, reward, done, info = env.step(act(-1.0, 1.0))
    buy_val = 500 * 495 / 505
    assert env.holdings[0, 0] == 0.0
    assert float(env.holdings[0, 1]) == pytest.approx(buy_val / 50, rel=1e-12)
    assert float(env.cash[0]) == pytest.approx(0.0, abs=1e-9)
    assert float(info["fees"][0]) == pytest.approx(5.0 + buy_val * 0.01, rel=1e-12)
    assert int(info["trades"][0]) == 2
    value1 = buy_val  # asset 1 did not move
    # Equal weight: 1000 -> 1000 * mean(110/100, 50/50) = 1050.
    expected = ((value1 - 500.0) - (1050.0 - 1000.0)) * 100.0 / 1000.0
    assert float(reward[0]) == pytest.approx(expected, rel=1e-6)
    assert float(info["equity"][0]) == pytest.approx(value1, rel=1e-12)
    assert not bool(done[0])


def test_buys_are_scaled_down_together_when_cash_is_short() -> None:
    env = make_env([[1, 1], [100, 50], [100, 50]])
    _obs, _r, _d, info = env.step(act(1.0, 1.0))   # wants 1000 of each, has 1000 in total
    each = 1000 / 2.02                                 # (2 × value) × 1.01 = cash
    assert float(env.holdings[0, 0]) * 100 == pytest.approx(each, rel=1e-12)
    assert float(env.holdings[0, 1]) * 50 == pytest.approx(each, rel=1e-12)
    assert float(env.cash[0]) == pytest.approx(0.0, abs=1e-9)
    assert float(env.cash[0]) >= 0.0
    assert float(info["fees"][0]) == pytest.approx(2 * each * 0.01, rel=1e-12)


def test_orders_below_the_minimum_are_skipped() -> None:
    env = make_env([[1, 1], [100, 50], [100, 50], [100, 50]], min_order_value=50.0,
                   max_trade_fraction=0.1)
    _obs, _r, _d, info = env.step(act(0.4, 1.0))   # 40 (skipped) and 100 (bought)
    assert float(env.holdings[0, 0]) == 0.0
    assert float(env.holdings[0, 1]) * 50 == pytest.approx(100.0)
    assert int(info["trades"][0]) == 1
    assert float(info["fees"][0]) == pytest.approx(1.0)
    # A sell worth less than the minimum is skipped too (holding 100 < 50? no: ask for 30).
    _obs, _r, _d, info = env.step(act(0.0, -0.3))  # 0.3 × 0.1 × ~999 ≈ 30 < 50
    assert float(env.holdings[0, 1]) * 50 == pytest.approx(100.0)
    assert int(info["trades"][0]) == 0


def test_buys_that_fall_below_the_minimum_after_scaling_are_skipped() -> None:
    env = make_env([[1, 1], [100, 50], [100, 50]], min_order_value=50.0)
    env.cash[:] = 100.0
    env.ew[:] = 100.0
    _obs, _r, _d, info = env.step(act(1.0, 1.0))   # 100 each, scaled to ~49.5 each: skipped
    assert int(info["trades"][0]) == 0
    assert float(env.cash[0]) == 100.0


def test_a_fee_is_charged_on_each_side() -> None:
    env = make_env([[1, 1], [100, 10], [100, 10], [100, 10], [100, 10]])
    _o, r1, _d, i1 = env.step(act(0.5, 0.0))        # buy 500 of asset 0: fee 5
    assert float(i1["fees"][0]) == pytest.approx(5.0)
    assert float(env.cash[0]) == pytest.approx(495.0)
    assert float(r1[0]) == pytest.approx((995.0 - 1000.0) * 0.1, rel=1e-6)  # flat prices
    _o, _r2, _d, i2 = env.step(act(-1.0, 0.0))      # sell all 5 (asks for 9.95): fee 5
    assert float(i2["fees"][0]) == pytest.approx(5.0)
    assert float(env.holdings[0, 0]) == 0.0
    assert float(env.cash[0]) == pytest.approx(990.0)


def test_actions_are_clipped_to_unit_range() -> None:
    env = make_env([[1, 1], [100, 50], [100, 50]], max_trade_fraction=0.1, fee_rate=0.0)
    env.step(act(5.0, 0.0))
    assert float(env.holdings[0, 0]) * 100 == pytest.approx(100.0)


def test_random_starts_episode_length_and_auto_reset() -> None:
    prices = (100 + np.arange(200)[:, None] * np.array([[1.0, 0.5]])).tolist()
    env = make_env(prices, n_envs=64, start=None, episode_len=10)
    assert env.obs_dim == 1 + 2 + 1 * 2 * 1 and env.act_dim == 2
    starts = env.t.clone()
    assert int(starts.min()) >= env.min_start == 1
    assert int(starts.max()) <= 200 - 1 - 10
    assert len(set(starts.tolist())) > 10
    for k in range(10):
        obs, reward, done, info = env.step(torch.zeros(64, 2))
        assert obs.shape == (64, env.obs_dim) and reward.shape == (64,)
        assert bool(done.all()) == (k == 9)
    assert bool((env.steps == 0).all())
    assert bool((env.cash == 1000.0).all()) and not bool(env.holdings.any())
    # Holding cash while prices rise earns minus the benchmark's move (reward < 0).
    assert float(reward.max()) < 0


def test_too_few_bars_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not enough bars"):
        make_env([[1, 1], [100, 50]], start=None, episode_len=5)


def test_runs_on_cuda_when_available() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from engine.env.vec_env import PortfolioVecEnv

    p = torch.tensor([[1, 1], [100, 50], [110, 50], [120, 55]], dtype=torch.float64)
    cfg = EnvSection()
    cpu = PortfolioVecEnv(p, torch.zeros(4, 2, 1), SPEC, cfg, 1, "cpu", 2, 0, start=1)
    gpu = PortfolioVecEnv(p, torch.zeros(4, 2, 1), SPEC, cfg, 1, "cuda", 2, 0, start=1)
    cpu.reset()
    gpu.reset()
    for a in (act(0.5, -0.2), act(-0.3, 0.9)):
        oc, rc, _, _ = cpu.step(a)
        og, rg, _, _ = gpu.step(a.cuda())
        torch.testing.assert_close(og.cpu(), oc)
        torch.testing.assert_close(rg.cpu(), rc)


def test_precomputed_and_gathered_observations_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.env.vec_env as vec_env
    from engine.config.schema import FeaturesSection
    from engine.data.synthetic import synthetic_candles
    from engine.features import compute_features, feature_spec

    c = synthetic_candles(("BTC-USD", "ETH-USD"), 400, "5m", seed=8)
    spec = feature_spec(FeaturesSection(lookback=3, norm_window=30), c)
    p, f = torch.from_numpy(c.close), torch.from_numpy(compute_features(c, spec))
    fast = vec_env.PortfolioVecEnv(p, f, spec, EnvSection(), 8, episode_len=20, seed=1)
    monkeypatch.setattr(vec_env, "MAX_PRECOMPUTED_OBS", 0)
    slow = vec_env.PortfolioVecEnv(p, f, spec, EnvSection(), 8, episode_len=20, seed=1)
    assert fast.obs_rows is not None and slow.obs_rows is None
    a, b = fast.reset(), slow.reset()
    gen = torch.Generator().manual_seed(2)
    for _ in range(30):   # crosses an auto-reset
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        act = torch.rand(8, 2, generator=gen) * 2 - 1
        a, *_ = fast.step(act)
        b, *_ = slow.step(act)


def test_nan_actions_place_no_orders() -> None:
    env = make_env([[1, 1], [100, 50], [100, 50]])
    _obs, reward, _d, info = env.step(act(float("nan"), 0.5))
    assert float(env.holdings[0, 0]) == 0.0 and float(env.holdings[0, 1]) > 0
    assert torch.isfinite(reward).all() and int(info["trades"][0]) == 1
