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

Steps 1-6 are engine.env.fused.fused_step: engine.env.step.trade_step's arithmetic (the
function engine.env.backtest runs on numpy, one env; tests/engine/env/test_fused.py holds
them equal) fused for a device, with no host read: all envs start together and run
episode_len steps, so the host counts steps and resets without asking the device.
engine.env.accel runs it eager, compiled or as a CUDA graph (`step_mode`).
"""

from __future__ import annotations

from typing import Any

import torch

from engine.env.accel import Stepper
from engine.env.fused import Bars, bar_table, observe
from engine.env.step import step_params
from engine.features import FeatureSpec, first_valid_index, obs_dim

# Precompute every bar's observation row up to this many float32 values (256 MB).
MAX_PRECOMPUTED_OBS = 64_000_000


class PortfolioVecEnv:
    def __init__(self, prices: torch.Tensor, features: torch.Tensor, spec: FeatureSpec,
                 env_cfg: Any, n_envs: int, device: str | torch.device = "cpu",
                 episode_len: int | None = None, seed: int = 0, *,
                 start: int | None = None, step_mode: str = "auto") -> None:
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

        self.window_offsets = torch.arange(-(self.lookback - 1), 1, device=self.device)
        self.obs_rows = self._obs_rows()
        # Row t: close[t], close[t+1] and the equal-weight growth t -> t+1 (rebalanced every
        # bar, no fees): one gather per step reads all three.
        self.bars = Bars(bar_table(self.prices), self.obs_rows, self.features_flat,
                         self.window_offsets, self.initial_cash)
        self.ew_growth = self.bars.table[:, 2 * self.n_assets]
        self.stepper = Stepper(step_mode, self.device)

        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(int(seed))
        n = self.n_envs
        self.cash = torch.full((n,), self.initial_cash, dtype=torch.float64, device=self.device)
        self.holdings = torch.zeros((n, self.n_assets), dtype=torch.float64, device=self.device)
        self.ew = self.cash.clone()
        self.t = torch.zeros(n, dtype=torch.long, device=self.device)
        # Every env starts with reset() and runs episode_len steps: all end together, so the
        # host counts the steps and knows when they end without reading the device.
        self.host_steps = 0
        self._all_done = torch.ones(n, dtype=torch.bool, device=self.device)
        self._none_done = torch.zeros(n, dtype=torch.bool, device=self.device)

    @property
    def steps(self) -> torch.Tensor:
        """Steps of each env's episode so far (N,) long."""
        return torch.full((self.n_envs,), self.host_steps, dtype=torch.long, device=self.device)

    # ------------------------------------------------------------------ episodes
    def _starts(self, n: int) -> torch.Tensor:
        if self.fixed_start is not None:
            return torch.full((n,), self.fixed_start, dtype=torch.long, device=self.device)
        return torch.randint(self.min_start, self.max_start + 1, (n,), generator=self.gen,
                             device=self.device)

    def _reset_envs(self, lo: int, hi: int, starts: torch.Tensor) -> None:
        """New episodes for envs [lo, hi) from start bars `starts`, in place (no host read)."""
        self.t[lo:hi] = starts
        self.cash[lo:hi] = self.initial_cash
        self.holdings[lo:hi] = 0.0
        self.ew[lo:hi] = self.initial_cash

    def reset(self) -> torch.Tensor:
        self.host_steps = 0
        self._reset_envs(0, self.n_envs, self._starts(self.n_envs))
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

    def _obs(self) -> torch.Tensor:
        return observe(self.bars, self.t, self.cash, self.holdings,
                       self.prices.index_select(0, self.t))

    def equity(self) -> torch.Tensor:
        return self.cash + (self.holdings * self.prices[self.t]).sum(dim=1)

    # ------------------------------------------------------------------ host clock
    def steps_to_episode_end(self) -> int:
        """Steps until the next episode end (known on the host)."""
        return self.episode_len - self.host_steps

    def host_clock(self) -> Any:
        return self.host_steps

    def set_host_clock(self, clock: Any) -> None:
        """Set the host's step count (a replayed CUDA graph stepped the device alone)."""
        self.host_steps = int(clock)

    def advance_host_clock(self, steps: int) -> None:
        """Count `steps` steps that ended no episode (engine.population.rollout_graph)."""
        if steps >= self.steps_to_episode_end():
            raise ValueError(f"{steps} steps would cross an episode end")
        self.host_steps += steps

    # ------------------------------------------------------------------ step
    def _end_episodes(self) -> tuple[torch.Tensor, bool]:
        """Count a step on the host; reset the envs whose episode ended. (done, any reset)"""
        self.host_steps += 1
        if self.host_steps < self.episode_len:
            return self._none_done, False
        self.host_steps = 0
        self._reset_envs(0, self.n_envs, self._starts(self.n_envs))
        return self._all_done, True

    def step(self, actions: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """One vec step (engine.env.fused); `done` is a shared read-only tensor."""
        act = actions
        if not isinstance(act, torch.Tensor) or act.device != self.device:
            act = torch.as_tensor(actions, device=self.device)
        out = self.stepper(self.params, self.bars, self.cash, self.holdings, self.ew, self.t,
                           act)
        self.cash, self.holdings, self.ew, self.t = out.cash, out.holdings, out.ew, out.t
        info = {"equity": out.equity, "fees": out.fees, "trades": out.trades}
        done, reset = self._end_episodes()
        obs = self._obs() if reset else out.obs   # some envs moved to a new start bar
        return obs, out.reward, done, info
