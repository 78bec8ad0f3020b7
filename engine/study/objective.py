"""The objective of one trial: CPCV over the study window, several seeds, a final fit.

For each CPCV split used (cfg.study.max_splits of the C(N, k), spread evenly; 0 = all)
and each of cfg.study.seeds seeds: train a fresh PPO agent on the split's training
segments, evaluate it deterministically (the mean action) on the split's test blocks, and
score the Sharpe ratio of its *active* returns (agent minus equal weight, per bar, the
agent net of fees):

    score = Sharpe(r_agent − r_EW)          (annualised for the bar period)

which is not the difference of two Sharpe ratios (that scores an all-cash agent highly on
any falling window and ignores the tracking error). A split's score is the mean over its
seeds (tested on the same bars, they are not independent draws), and the objective is

    mean(split scores) − SE,   SE = std(split scores, ddof=1) / sqrt(n splits)

(with one split, the standard error sqrt((1 + SR²/2) / T) of its seed-averaged returns,
annualised, Lo 2002; engine.study.trace.objective_of). After
each split (all seeds) the running mean is reported (pruning).

The deployed model is refitted on every CV bar (all data before the held-out segment and
its embargo) and backtested on the held-out segment. Every unit's per-bar out-of-sample
active returns, the trivial baselines on the same bars (engine.study.baselines), the
held-out returns and the final fit's learning curve are kept in a Trace
(engine.study.trace), which the worker writes next to the model after every unit, so a
pruned trial leaves its evidence too (engine.study.evidence builds the study's figures).

Training episodes start only where the whole episode fits inside one training segment
(SegmentEnv), so no training step crosses a test block or an embargo.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from engine.agent.hyperparams import Hyperparams
from engine.agent.ppo import PPO
from engine.config import Config
from engine.env.vec_env import PortfolioVecEnv
from engine.metrics import sharpe
from engine.study.baselines import bar_index, baseline_actives, used_ranges
from engine.study.cpcv import Range, Split, cpcv_splits
from engine.study.trace import Trace, objective_of


class TimeLimitError(RuntimeError):
    """The trial ran past cfg.trials.time_limit_s."""


@dataclass(frozen=True)
class StudyData:
    candles: Any                 # engine.data.candles.Candles
    spec: Any                    # engine.features.FeatureSpec
    prices: torch.Tensor         # (T, A) float64
    features: torch.Tensor       # (T, A, F) float32
    bar_seconds: int
    fingerprint: str
    cv: Range                    # bars used by CPCV
    holdout: Range               # bars of the final backtest
    min_start: int               # first bar with a full feature window
    embargo: int                 # bars after each test block kept out of training


def load_study_candles(cfg: Config) -> Any:
    from engine.data.synthetic import synthetic_candles

    if cfg.data.source != "synthetic":
        from engine.data.load import load_candles

        return load_candles(cfg)

    return synthetic_candles(cfg.data.tickers, cfg.data.synthetic_bars, cfg.data.timeframe,
                             cfg.data.seed)


def prepare_data(cfg: Config, candles: Any | None = None, device: str = "cpu") -> StudyData:
    from engine.features import compute_features, feature_spec, first_valid_index

    candles = candles if candles is not None else load_study_candles(cfg)
    spec = feature_spec(cfg.features, candles)
    feats = compute_features(candles, spec)
    prices = torch.as_tensor(np.ascontiguousarray(candles.close), dtype=torch.float64)
    n = candles.n_bars
    min_start = first_valid_index(spec) + spec.lookback - 1
    # A training observation right after a test block would see test bars through its
    # feature window (indicators + rolling normalisation): embargo at least that window.
    embargo = max(cfg.study.embargo_bars, spec.history)
    hold = int(n * cfg.study.holdout_frac)
    cv_stop = n - hold if hold > 0 else n
    holdout = (min(n - 1, cv_stop + embargo), n) if hold > 0 else (min_start, n)
    if cv_stop - min_start < 4 * cfg.study.cpcv_groups:
        raise ValueError(f"not enough bars for CPCV: {n} bars, features valid from bar "
                         f"{min_start}, {cfg.study.cpcv_groups} groups")
    return StudyData(candles, spec, prices.to(device),
                     torch.as_tensor(feats, dtype=torch.float32).to(device),
                     int(candles.bar_seconds), candles.fingerprint(), (min_start, cv_stop),
                     holdout, min_start, embargo)


def select_splits(cfg: Config, data: StudyData) -> list[Split]:
    """The same max_splits splits for every trial (PBO needs one matrix), evenly spread."""
    st = cfg.study
    a, b = data.cv
    splits = cpcv_splits(b - a, st.cpcv_groups, st.cpcv_test_groups, data.embargo,
                         st.purge_bars, offset=a)
    m = len(splits) if st.max_splits == 0 else min(st.max_splits, len(splits))
    idx = sorted({round(i * (len(splits) - 1) / max(m - 1, 1)) for i in range(m)})
    return [splits[i] for i in idx]


class SegmentEnv(PortfolioVecEnv):
    """PortfolioVecEnv whose episodes start only where they fit inside one segment."""

    def __init__(self, prices: torch.Tensor, features: torch.Tensor, spec: Any, env_cfg: Any,
                 n_envs: int, device: str, episode_len: int, seed: int,
                 segments: tuple[Range, ...]) -> None:
        super().__init__(prices, features, spec, env_cfg, n_envs, device, episode_len, seed)
        starts = [torch.arange(max(a, self.min_start), b - episode_len)
                  for a, b in segments if b - episode_len > max(a, self.min_start)]
        if not starts:
            raise ValueError(f"no training segment holds an episode of {episode_len} bars")
        self.allowed = torch.cat(starts).to(self.device)

    def _starts(self, n: int) -> torch.Tensor:
        pick = torch.randint(0, self.allowed.numel(), (n,), generator=self.gen,
                             device=self.device)
        return self.allowed[pick]


def episode_len_for(hp: Hyperparams, segments: tuple[Range, ...], min_start: int) -> int:
    longest = max(b - max(a, min_start) for a, b in segments)
    return max(8, min(hp.episode_len, longest - 2))


@dataclass(frozen=True)
class Evaluation:
    agent_returns: np.ndarray
    ew_returns: np.ndarray
    hodl_returns: np.ndarray
    fees: float
    trades: int

    def sharpes(self, bar_seconds: int) -> dict[str, float]:
        return {"sharpe": sharpe(self.agent_returns, bar_seconds),
                "ew_sharpe": sharpe(self.ew_returns, bar_seconds),
                "hodl_sharpe": sharpe(self.hodl_returns, bar_seconds)}


def evaluate(act_np: Callable[[np.ndarray], np.ndarray], data: StudyData, env_cfg: Any,
             ranges: tuple[Range, ...]) -> Evaluation:
    """Deterministic backtest of `act_np` over each range (engine.env.backtest: the training
    env's step code), returns concatenated across ranges."""
    from engine.env.backtest import backtest

    agent_r, ew_r, hodl_r = [], [], []
    fees, trades = 0.0, 0
    for a, b in ranges:
        if b - max(a, data.min_start) < 3:
            continue
        res = backtest(act_np, data.prices, data.features, data.spec, env_cfg, a, b)
        agent_r.append(res.returns)
        ew_r.append(res.equal_weight_returns)
        hodl_r.append(res.hodl_returns)
        fees += res.fees
        trades += res.trades

    def cat(xs: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(xs) if xs else np.zeros(0)

    return Evaluation(cat(agent_r), cat(ew_r), cat(hodl_r), fees, trades)


class Hooks:
    """What the worker plugs into a trial run (no-ops by default)."""

    def on_update(self, runner: TrialRunner) -> None:  # after each PPO update
        pass

    def report(self, split: int, value: float) -> None:  # may raise optuna.TrialPruned
        pass

    def on_unit(self, runner: TrialRunner) -> None:  # after each (split, seed) or the final fit
        pass


FINAL = -1  # the split index of the final fit (all CV bars -> held-out segment)


@dataclass
class TrialRunner:
    """Runs one trial's units; resumable from `state()` at any update boundary.

    Units: every (split, seed) pair of the CPCV splits and [study] seeds, then the final
    fit: one agent trained on every CV bar (all data before the held-out segment), which is
    the deployed model and is backtested on the held-out segment.
    """

    cfg: Config
    data: StudyData
    hp: Hyperparams
    device: str = "cpu"
    seed: int = 0
    hooks: Hooks = field(default_factory=Hooks)
    minibatch: int | None = None          # overrides hp.minibatch (OOM halving)
    agent_hooks: list[Callable[[str, int], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.splits = select_splits(self.cfg, self.data)
        self.seeds = int(self.cfg.study.seeds)
        self.units: list[tuple[int, int]] = [(s, k) for s in range(len(self.splits))
                                             for k in range(self.seeds)] + [(FINAL, 0)]
        self.unit_i = 0
        self.scores: list[float] = []       # active Sharpe of each (split, seed) unit
        self.split_metrics: list[dict[str, Any]] = []
        self.trace = Trace()
        self.curve: list[float] = []         # mean training reward per update, this unit
        self.agent: PPO | None = None
        self.global_updates = 0
        self.started = time.monotonic()
        self.elapsed_before = 0.0  # seconds spent by earlier attempts (time limit per trial)
        self.updates_per_split = max(1, math.ceil(
            self.hp.total_steps / (self.hp.n_envs * self.hp.n_steps)))
        self.effective: dict[str, Any] = {}

    # -- resumable state ----------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"unit_i": self.unit_i, "scores": list(self.scores),
                "split_metrics": list(self.split_metrics), "global_updates": self.global_updates,
                "elapsed": self.elapsed, "trace": self.trace.to_state(),
                "curve": list(self.curve),
                "agent": self.agent.state_dict() if self.agent is not None else None}

    def restore(self, state: dict[str, Any]) -> None:
        self.unit_i = int(state.get("unit_i", state.get("split_i", 0)))
        self.scores = list(state["scores"])
        self.split_metrics = list(state["split_metrics"])
        self.global_updates = int(state["global_updates"])
        self.elapsed_before = float(state.get("elapsed", 0.0))
        self.trace = Trace.from_state(state.get("trace") or {})
        self.curve = list(state.get("curve", []))
        if state.get("agent") is not None:
            self.agent = self._new_agent(min(self.unit_i, len(self.units) - 1))
            self.agent.load_state_dict(state["agent"])
            if self.minibatch:
                self.agent.minibatch = self.minibatch

    @property
    def split_i(self) -> int:
        """Splits fully scored so far (every seed)."""
        return min(self.unit_i // self.seeds, len(self.splits))

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.started

    @property
    def total_updates(self) -> int:
        return self.updates_per_split * len(self.units)

    @property
    def progress(self) -> float:
        return min(1.0, self.global_updates / max(self.total_updates, 1))

    def _new_agent(self, unit_i: int) -> PPO:
        split_i, seed_i = self.units[unit_i]
        agent = PPO(self._obs_dim(), self.data.prices.shape[1], self.hp, self.device,
                    seed=self.seed * 1000 + (split_i % 1000) + 100_000 * seed_i)
        if self.minibatch:
            agent.minibatch = max(1, min(self.minibatch, self.hp.batch))
        agent.hooks.extend(self.agent_hooks)
        return agent

    def policy(self) -> Callable[[np.ndarray], np.ndarray]:
        """The current agent's deterministic policy as a fast numpy function."""
        from engine.agent.policy import numpy_policy

        assert self.agent is not None
        return numpy_policy(self.agent.actor)

    def _obs_dim(self) -> int:
        from engine.features import obs_dim

        return obs_dim(self.data.spec, self.data.prices.shape[1])

    def _close(self) -> np.ndarray:
        return self.data.prices.detach().cpu().numpy()

    # -- run ------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        while self.unit_i < len(self.units):
            split_i, seed_i = self.units[self.unit_i]
            if split_i == FINAL:
                self._train((self.data.cv,))
                self.trace.curve = list(self.curve)
                self.unit_i += 1
                break
            split = self.splits[split_i]
            self._train(split.train)
            ev = evaluate(self.policy(), self.data, self.cfg.env, split.test)
            active = ev.agent_returns - ev.ew_returns
            score = sharpe(active, self.data.bar_seconds)
            self.scores.append(score if math.isfinite(score) else 0.0)
            if seed_i == 0:
                base, tilt = baseline_actives(self._close(), split.train, split.test,
                                              self.data.min_start)
                self.trace.add_split(split_i, bar_index(used_ranges(split.test,
                                                                    self.data.min_start)), base)
            self.trace.add_active(split_i, active)
            self.split_metrics.append({**ev.sharpes(self.data.bar_seconds), "score": score,
                                       "split": split_i, "seed": seed_i,
                                       "test_groups": list(split.test_groups),
                                       "trades": ev.trades, "fees": ev.fees})
            self.unit_i += 1
            self.agent = None  # each unit trains a fresh agent
            self.curve = []
            self.hooks.on_unit(self)
            if seed_i == self.seeds - 1:
                self.hooks.report(split_i, float(np.mean(self.scores)))
        return self.final_metrics()

    def _train(self, segments: tuple[Range, ...]) -> None:
        hp = self.hp
        ep_len = episode_len_for(hp, segments, self.data.min_start)
        done_in_unit = self.global_updates - self.unit_i * self.updates_per_split
        if self.agent is None:
            self.agent = self._new_agent(self.unit_i)
            done_in_unit = 0
        env = SegmentEnv(self.data.prices, self.data.features, self.data.spec, self.cfg.env,
                         hp.n_envs, self.device, ep_len,
                         seed=self.seed * 7919 + self.unit_i * 131 + self.global_updates,
                         segments=segments)
        self.effective = self.agent.effective_config(env) | {"episode_len": ep_len}
        obs = env.reset()
        for _ in range(done_in_unit, self.updates_per_split):
            if self.elapsed > self.cfg.trials.time_limit_s:
                raise TimeLimitError(f"trial ran past its time limit of "
                                     f"{self.cfg.trials.time_limit_s:g} s")
            ro, obs = self.agent.collect(env, obs)
            self.agent.update(ro)
            self.curve.append(float(ro.rewards.mean()))
            self.global_updates += 1
            self.hooks.on_update(self)

    def objective(self) -> float:
        """Mean − one standard error over splits of the seeds' mean active Sharpe (trace.objective_of)."""
        return objective_of(self.trace, self.data.bar_seconds)

    def final_metrics(self) -> dict[str, Any]:
        assert self.agent is not None
        ev = evaluate(self.policy(), self.data, self.cfg.env, (self.data.holdout,))
        active = ev.agent_returns - ev.ew_returns
        base, _ = baseline_actives(self._close(), (self.data.cv,), (self.data.holdout,),
                                   self.data.min_start)
        self.trace.set_holdout(bar_index(used_ranges((self.data.holdout,), self.data.min_start)),
                               active, base)
        self.hooks.on_unit(self)  # the trace now holds the held-out segment too
        sh = ev.sharpes(self.data.bar_seconds)
        eq = np.cumprod(1 + ev.agent_returns)
        seed_means = [float(np.mean(self.scores[k::self.seeds])) for k in range(self.seeds)
                      if self.scores[k::self.seeds]]
        return {
            "objective": self.objective(), "split_scores": list(self.scores),
            "objective_kind": "mean - SE over splits of the seeds' mean active Sharpe",
            "seeds": self.seeds, "seed_scores": seed_means,
            "seed_spread": float(np.std(seed_means, ddof=1)) if len(seed_means) > 1 else 0.0,
            "splits": self.split_metrics, **sh,
            "holdout_active_sharpe": sharpe(active, self.data.bar_seconds),
            "holdout_bars": [int(self.data.holdout[0]), int(self.data.holdout[1])],
            "cv_bars": [int(self.data.cv[0]), int(self.data.cv[1])], "embargo_bars": self.data.embargo,
            "total_return": float(eq[-1] - 1.0) if eq.size else 0.0,
            "holdout_trades": ev.trades, "holdout_fees": ev.fees,
            "model_fit": "all CV bars (everything before the held-out segment)",
            "env_steps": int(self.global_updates * self.hp.n_envs * self.hp.n_steps),
            "updates": self.global_updates, "effective_hp": self.effective,
        }
