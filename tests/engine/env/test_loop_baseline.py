"""The FinRL-style loop baseline has the vec env's semantics (so the speed-up is fair)."""

from __future__ import annotations

import numpy as np
import torch

from engine.config.schema import EnvSection, FeaturesSection
from engine.data.synthetic import synthetic_candles
from engine.env.loop_baseline import LoopEnv, LoopVecEnv
from engine.env.vec_env import PortfolioVecEnv
from engine.features import compute_features, feature_spec


def test_loop_env_agrees_with_vec_env() -> None:
    candles = synthetic_candles(("BTC-USD", "ETH-USD", "SOL-USD", "LTC-USD"), 500, "5m", seed=4)
    spec = feature_spec(FeaturesSection(lookback=3, norm_window=40), candles)
    feats = compute_features(candles, spec)
    env_cfg = EnvSection(max_trade_fraction=0.4, min_order_value=20.0, action_mapping="delta",
                         execution_delay=False)
    start, steps = 150, 120
    loop = LoopEnv(candles.close, feats, spec, env_cfg, episode_len=steps, start=start)
    vec = PortfolioVecEnv(torch.from_numpy(candles.close), torch.from_numpy(feats), spec,
                          env_cfg, 1, episode_len=steps, start=start)
    lo, vo = loop.reset(), vec.reset()[0].numpy()
    rng = np.random.default_rng(9)
    trades = 0
    for _ in range(steps - 1):
        np.testing.assert_allclose(lo, vo, rtol=1e-6, atol=1e-7)
        a = rng.uniform(-1, 1, 4).astype(np.float32)
        lo, lr, ld, li = loop.step(a)
        vo_t, vr, vd, vi = vec.step(torch.from_numpy(a[None]))
        vo = vo_t[0].numpy()
        assert abs(lr - float(vr[0])) < 1e-4 and ld == bool(vd[0])
        assert abs(li["equity"] - float(vi["equity"][0])) < 1e-6
        assert li["trades"] == int(vi["trades"][0])
        trades += li["trades"]
    assert trades > 50


def test_loop_vec_env_shapes() -> None:
    candles = synthetic_candles(("BTC-USD", "ETH-USD"), 300, "5m", seed=1)
    spec = feature_spec(FeaturesSection(lookback=2, norm_window=20), candles)
    env = LoopVecEnv(candles.close, compute_features(candles, spec), spec,
                     EnvSection(action_mapping="delta", execution_delay=False), 3, 50)
    obs = env.reset()
    obs2, reward, done = env.step(np.zeros((3, 2)))
    assert obs.shape == obs2.shape == (3, 1 + 2 + 2 * 2 * spec.n_features)
    assert reward.shape == done.shape == (3,)
