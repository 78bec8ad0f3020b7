"""Backtest one policy over a bar range with the training env's own step code (n_envs=1).

Benchmarks shown next to every model (both start with initial_cash at bar `start` and pay
no fees, so they are the market, not a strategy):
  equal_weight  rebalanced to equal weights every bar: value grows by the mean of the
                assets' one-bar price ratios (the same benchmark the reward uses);
  hodl          equal split at `start`, then bought and held without rebalancing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.env.step import OneEnvNumpyOps, step_params, trade_step
from engine.features import FeatureSpec, first_valid_index, observation


@dataclass(frozen=True, eq=False)
class BacktestResult:
    start: int                 # first bar (the agent acts at bars start .. stop-2)
    stop: int                  # one past the last bar
    equity: np.ndarray         # (stop-start,) portfolio value at each bar, float64
    equal_weight: np.ndarray   # (stop-start,) equal-weight benchmark value
    hodl: np.ndarray           # (stop-start,) buy-and-hold benchmark value
    trades: int                # executed orders (each asset leg counts once)
    fees: float                # total fees paid
    returns: np.ndarray        # (stop-start-1,) per-bar simple returns of equity

    @property
    def total_return(self) -> float:
        return float(self.equity[-1] / self.equity[0] - 1.0)

    @property
    def equal_weight_returns(self) -> np.ndarray:
        out: np.ndarray = self.equal_weight[1:] / self.equal_weight[:-1] - 1.0
        return out

    @property
    def hodl_returns(self) -> np.ndarray:
        out: np.ndarray = self.hodl[1:] / self.hodl[:-1] - 1.0
        return out


def min_start(spec: FeatureSpec) -> int:
    """The first bar at which a policy can act (a full window of valid feature rows)."""
    return first_valid_index(spec) + spec.lookback - 1


def backtest(act_fn: Callable[[np.ndarray], np.ndarray], prices: Any, features: Any,
             spec: FeatureSpec, env_cfg: Any, start: int | None = None,
             stop: int | None = None) -> BacktestResult:
    """Run act_fn (obs (1, obs_dim) float32 -> actions (1, A) or (A,) in [-1, 1]) over bars.

    The step is engine.env.step.trade_step, the training env's own code, run on numpy for
    one env (torch's per-op overhead would dominate at N=1); observations come from
    engine.features.observation, the live trader's function (one code path for parity).
    `start` is raised to
    min_start(spec) when earlier (the result records the real start); `stop` defaults to
    the number of bars. Deterministic given a deterministic act_fn.
    """
    close = _numpy(prices, np.float64)
    feats = _numpy(features, np.float32)
    if close.ndim != 2 or feats.shape[:2] != close.shape:
        raise ValueError(f"prices (T, A) and features (T, A, F) disagree: "
                         f"{close.shape} vs {feats.shape}")
    n_bars, n_assets = close.shape
    stop = n_bars if stop is None else min(int(stop), n_bars)
    start = max(min_start(spec), 0 if start is None else int(start))
    if stop - start < 2:
        raise ValueError(f"backtest range [{start}, {stop}) has fewer than 2 bars "
                         f"(features are valid from bar {min_start(spec)})")
    initial = float(env_cfg.initial_cash)
    prm = step_params(env_cfg, float(env_cfg.reward_scaling) / initial)
    n = stop - start
    lookback = spec.lookback
    growth = (close[start + 1:stop] / close[start:stop - 1]).mean(axis=1)
    ew = np.empty(n, dtype=np.float64)
    ew[0] = initial
    ew[1:] = initial * np.cumprod(growth)
    equity = np.empty(n, dtype=np.float64)
    equity[0] = initial
    cash = np.float64(initial)
    holdings = np.zeros(n_assets, dtype=np.float64)
    trades = 0
    fees = 0.0
    ops = OneEnvNumpyOps
    for i in range(n - 1):
        t = start + i
        p = close[t]
        obs = observation(feats[t - lookback + 1:t + 1], float(cash), holdings, p, initial)
        act = np.asarray(act_fn(obs[None, :]), dtype=np.float64).reshape(-1)
        act = np.minimum(np.maximum(act, -1.0), 1.0)  # np.clip's wrappers cost more per bar
        act[act != act] = 0.0                          # NaN: no order
        out = trade_step(ops, prm, p, close[t + 1], cash, holdings, act, ew[i], ew[i + 1])
        cash, holdings = out.cash, out.holdings
        equity[i + 1] = out.value1
        trades += int(out.trades)
        fees += float(out.fees)
    hodl = (initial / n_assets / close[start] * close[start:stop]).sum(axis=1)
    return BacktestResult(start=start, stop=stop, equity=equity, equal_weight=ew, hodl=hodl,
                          trades=trades, fees=fees, returns=equity[1:] / equity[:-1] - 1.0)


def _numpy(x: Any, dtype: type) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=dtype)
