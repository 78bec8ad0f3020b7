"""A multi-asset portfolio environment, vectorised in torch: N envs × A assets, CPU or CUDA.

State (per env): cash, holdings (shares per asset), the current bar t and the value of an
equal-weight benchmark portfolio. Observations come from engine.features.observation_batch
(the same layout and numbers as the live trader's engine.features.observation).

One step at bar t (prices p = close[t]; with execution_delay the orders fill at
close[t+1] instead, sized by the equity there):
  1. equity  V_t = cash + Σ holdings·p.
  2. Orders from the action (clipped to [-1, 1], NaN read as 0) through the model's action
     mapping (engine.env.step: target weights with a no-trade band, or the original delta
     mapping shares_a = action_a · max_trade_fraction · V_t / p_a); positive buys.
  3. Sells first: at most the holdings (no shorting); a sell worth less than
     min_order_value is skipped; proceeds = value · (1 - cost), cost = the fee rate plus
     half the spread (engine.env.costs: the target broker's).
  4. Then buys: a buy worth less than min_order_value is skipped; if the cost of all buys,
     value · (1 + cost), exceeds the cash (after the sells), every buy is scaled down
     by the same factor; buys that fall below min_order_value after scaling are skipped.
  5. Time moves to t+1. V_{t+1} = cash + Σ holdings·close[t+1].
  6. The equal-weight benchmark (rebalanced every bar, no fees) grows by
     mean_a(close[t+1, a] / close[t, a]); it starts at initial_cash with each episode.

Reward (FinRL_Crypto style, relative to the equal-weight portfolio):
    r_t = ((V_{t+1} - V_t) - (EW_{t+1} - EW_t)) · reward_scaling / initial_cash
Fees reduce V_{t+1}, so they are part of the reward. An agent that holds cash earns
minus the benchmark's move; one that matches the benchmark earns about zero.

Episodes: each env starts at a random bar in [min_start, T - 1 - episode_len] (min_start =
the first bar with a full valid feature window) and runs episode_len steps; finished envs
reset automatically and `done` is True on their last step (a time limit, not a terminal
state). `start=` fixes the start bar (deterministic evaluation).

Steps 1-5 are engine.env.step.trade_step, the function engine.env.backtest also runs (on
numpy, one env), so training and backtests share one implementation of the rules.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.env.step import TorchOps, step_params, trade_step
from engine.features import (
    FeatureSpec,
    first_valid_index,
    obs_dim,
    observation_batch,
    state_batch,
)

# Precompute every bar's observation row up to this many float32 values (256 MB).
MAX_PRECOMPUTED_OBS = 64_000_000


class PortfolioVecEnv:
    def __init__(self, prices: torch.Tensor, features: torch.Tensor, spec: FeatureSpec,
                 env_cfg: Any, n_envs: int, device: str | torch.device = "cpu",
                 episode_len: int | None = None, seed: int = 0, *,
                 start: int | None = None) -> None:
        self.device = torch.device(device)
        self.prices = torch.as_tensor(prices, dtype=torch.float64).to(self.device).contiguous()
        feats = torch.as_tensor(features, dtype=torch.float32).to(self.device)
        if self.prices.ndim != 2 or feats.ndim != 3 or feats.shape[:2] != self.prices.shape:
            raise ValueError(f"prices (T, A) and features (T, A, F) disagree: "
                             f"{tuple(self.prices.shape)} vs {tuple(feats.shape)}")
        if not bool(torch.all(self.prices > 0)):
            raise ValueError("prices must be positive (validate the candles first)")
        self.spec = spec
        self.n_bars, self.n_assets = self.prices.shape
        self.n_envs = int(n_envs)
        self.lookback = spec.lookback
        self.features_flat = feats.reshape(self.n_bars, -1).contiguous()  # (T, A*F)
        self.n_state = 1 + self.n_assets
        self.min_start = first_valid_index(spec) + spec.lookback - 1
        last = self.n_bars - 1
        if episode_len is None:
            episode_len = last - (self.min_start if start is None else start)
        self.episode_len = int(episode_len)
        lo = self.min_start if start is None else int(start)
        self.max_start = last - self.episode_len
        if start is not None and start < self.min_start:
            raise ValueError(f"start {start} is before the first full feature window "
                             f"(bar {self.min_start})")
        if self.episode_len < 1 or self.max_start < lo:
            raise ValueError(f"not enough bars: {self.n_bars} bars, features valid from bar "
                             f"{self.min_start}, episode of {self.episode_len} steps")
        self.fixed_start = None if start is None else int(start)

        self.initial_cash = float(env_cfg.initial_cash)
        self.scale = float(env_cfg.reward_scaling) / self.initial_cash
        self.params = step_params(env_cfg, self.scale)
        self.fee, self.min_order, self.max_frac = (self.params.fee, self.params.min_order,
                                                   self.params.max_frac)
        self.obs_dim = obs_dim(spec, self.n_assets)
        self.act_dim = self.n_assets

        # Equal-weight growth factor from bar t to t+1 (rebalanced every bar, no fees).
        ratio = self.prices[1:] / self.prices[:-1]
        self.ew_growth = ratio.mean(dim=1)
        self.window_offsets = torch.arange(-(self.lookback - 1), 1, device=self.device)
        self.obs_rows = self._obs_rows()

        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(int(seed))
        n = self.n_envs
        self.cash = torch.full((n,), self.initial_cash, dtype=torch.float64, device=self.device)
        self.holdings = torch.zeros((n, self.n_assets), dtype=torch.float64, device=self.device)
        self.ew = self.cash.clone()
        self.t = torch.zeros(n, dtype=torch.long, device=self.device)
        self.steps = torch.zeros(n, dtype=torch.long, device=self.device)

    # ------------------------------------------------------------------ episodes
    def _starts(self, n: int) -> torch.Tensor:
        if self.fixed_start is not None:
            return torch.full((n,), self.fixed_start, dtype=torch.long, device=self.device)
        return torch.randint(self.min_start, self.max_start + 1, (n,), generator=self.gen,
                             device=self.device)

    def _reset_where(self, mask: torch.Tensor) -> None:
        idx = mask.nonzero(as_tuple=True)[0]
        k = idx.numel()
        self.t[idx] = self._starts(k)
        self.steps[idx] = 0
        self.cash[idx] = self.initial_cash
        self.holdings[idx] = 0.0
        self.ew[idx] = self.initial_cash

    def reset(self) -> torch.Tensor:
        self._reset_where(torch.ones(self.n_envs, dtype=torch.bool, device=self.device))
        return self._obs()

    def _obs_rows(self) -> torch.Tensor | None:
        """Each bar's whole observation row with the state columns left zero, when it fits.

        One gather of these rows (then writing the 1+A state columns) builds the batch's
        observations with a single copy of the feature windows instead of gather + cat.
        """
        size = self.n_bars * self.obs_dim
        if size > MAX_PRECOMPUTED_OBS:
            return None
        t = torch.arange(self.n_bars, device=self.device)
        rows = (t.unsqueeze(1) + self.window_offsets).clamp(min=0).reshape(-1)
        windows = self.features_flat.index_select(0, rows).reshape(self.n_bars, -1)
        out = torch.zeros(self.n_bars, self.obs_dim, dtype=torch.float32, device=self.device)
        out[:, self.n_state:] = windows
        return out

    def _obs(self, prices: torch.Tensor | None = None) -> torch.Tensor:
        if prices is None:
            prices = self.prices.index_select(0, self.t)
        if self.obs_rows is None:
            rows = (self.t.unsqueeze(1) + self.window_offsets).reshape(-1)   # (N*L,)
            window = self.features_flat.index_select(0, rows).reshape(self.n_envs, -1)
            return observation_batch(window, self.cash, self.holdings, prices,
                                     self.initial_cash)
        obs = self.obs_rows.index_select(0, self.t)
        obs[:, :self.n_state] = state_batch(self.cash, self.holdings, prices, self.initial_cash)
        return obs

    def equity(self) -> torch.Tensor:
        return self.cash + (self.holdings * self.prices[self.t]).sum(dim=1)

    # ------------------------------------------------------------------ step
    def _any_done(self, done: torch.Tensor) -> bool:
        """Whether an episode ended (a host sync on CUDA; subclasses that know it skip it)."""
        return bool(done.any())

    def step(self, actions: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        act = torch.as_tensor(actions, device=self.device).to(torch.float64).clamp(-1.0, 1.0)
        act = torch.nan_to_num(act, nan=0.0)   # a NaN action places no order
        p = self.prices.index_select(0, self.t)                    # (N, A)
        ew0 = self.ew
        ew1 = ew0 * self.ew_growth.index_select(0, self.t)
        self.t = self.t + 1
        p1: torch.Tensor | None = self.prices.index_select(0, self.t)
        out = trade_step(TorchOps, self.params, p, p1, self.cash, self.holdings, act, ew0, ew1)
        self.cash, self.holdings, self.ew = out.cash, out.holdings, ew1
        self.steps = self.steps + 1
        done = self.steps >= self.episode_len
        info = {"equity": out.value1, "fees": out.fees, "trades": out.trades}
        if self._any_done(done):
            self._reset_where(done)
            p1 = None  # some envs moved to a new start bar
        return self._obs(p1), out.reward.to(torch.float32), done, info
