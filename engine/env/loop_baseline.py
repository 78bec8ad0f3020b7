"""The baseline for `env_speedup_vs_loop`: the same env semantics, FinRL-style (the
original delta action mapping without execution delay, as FinRL steps).

One Python object per env holding numpy state, stepped in a Python loop, with per-asset
loops for the orders, the way FinRL / FinRL_Crypto environments are written. It exists
only to be measured against PortfolioVecEnv (and tested to agree with it); do not train
with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.env.step import step_params
from engine.features import FeatureSpec, first_valid_index, observation


class LoopEnv:
    def __init__(self, prices: np.ndarray, features: np.ndarray, spec: FeatureSpec,
                 env_cfg: Any, episode_len: int, seed: int = 0,
                 start: int | None = None) -> None:
        self.prices = np.asarray(prices, dtype=np.float64)
        self.features = np.asarray(features, dtype=np.float32)
        self.spec = spec
        self.n_bars, self.n_assets = self.prices.shape
        self.initial_cash = float(env_cfg.initial_cash)
        prm = step_params(env_cfg)
        if prm.weights or prm.delay:
            raise ValueError("the loop baseline implements the delta action mapping without "
                             "execution delay only")
        self.fee, self.min_order, self.max_frac = prm.fee, prm.min_order, prm.max_frac
        self.scale = float(env_cfg.reward_scaling) / self.initial_cash
        self.episode_len = int(episode_len)
        self.min_start = first_valid_index(spec) + spec.lookback - 1
        self.max_start = self.n_bars - 1 - self.episode_len
        self.fixed_start = start
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> np.ndarray:
        self.t = self.fixed_start if self.fixed_start is not None else int(
            self.rng.integers(self.min_start, self.max_start + 1))
        self.steps = 0
        self.cash = self.initial_cash
        self.holdings = np.zeros(self.n_assets)
        self.ew = self.initial_cash
        return self._obs()

    def _obs(self) -> np.ndarray:
        t, lookback = self.t, self.spec.lookback
        return observation(self.features[t - lookback + 1:t + 1], self.cash, self.holdings,
                           self.prices[t], self.initial_cash)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, dict[str, float]]:
        p = self.prices[self.t]
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        value0 = self.cash + float(np.dot(self.holdings, p))
        shares = action * self.max_frac * value0 / p
        fees = 0.0
        trades = 0
        for i in range(self.n_assets):           # sells first
            if shares[i] < 0:
                qty = min(-shares[i], self.holdings[i])
                if qty > 0 and qty * p[i] >= self.min_order:
                    self.holdings[i] -= qty
                    self.cash += qty * p[i] * (1 - self.fee)
                    fees += qty * p[i] * self.fee
                    trades += 1
        buys = np.zeros(self.n_assets)
        for i in range(self.n_assets):
            if shares[i] > 0 and shares[i] * p[i] >= self.min_order:
                buys[i] = shares[i] * p[i]
        need = buys.sum() * (1 + self.fee)
        factor = min(self.cash / need, 1.0) if need > 0 else 1.0
        spent = 0.0
        for i in range(self.n_assets):           # then buys, scaled to the cash
            val = buys[i] * factor
            if val > 0 and val >= self.min_order:
                self.holdings[i] += val / p[i]
                spent += val
                fees += val * self.fee
                trades += 1
        self.cash = max(self.cash - spent * (1 + self.fee), 0.0)
        p1 = self.prices[self.t + 1]
        ew1 = self.ew * float(np.mean(p1 / p))
        value1 = self.cash + float(np.dot(self.holdings, p1))
        reward = ((value1 - value0) - (ew1 - self.ew)) * self.scale
        self.ew = ew1
        self.t += 1
        self.steps += 1
        done = self.steps >= self.episode_len
        info = {"equity": value1, "fees": fees, "trades": trades}
        obs = self.reset() if done else self._obs()
        return obs, reward, done, info


class LoopVecEnv:
    """N LoopEnv objects stepped one after another (the FinRL way of batching)."""

    def __init__(self, prices: np.ndarray, features: np.ndarray, spec: FeatureSpec,
                 env_cfg: Any, n_envs: int, episode_len: int, seed: int = 0) -> None:
        self.envs = [LoopEnv(prices, features, spec, env_cfg, episode_len, seed + i)
                     for i in range(n_envs)]

    def reset(self) -> np.ndarray:
        return np.stack([e.reset() for e in self.envs])

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        results = [e.step(a) for e, a in zip(self.envs, actions, strict=True)]
        obs = np.stack([r[0] for r in results])
        reward = np.array([r[1] for r in results], dtype=np.float32)
        done = np.array([r[2] for r in results])
        return obs, reward, done
