"""Members and populations: what the per-trial path runs one after another, run at once.

A member is (hyperparameters, seed, CPCV split): exactly what
engine.study.objective.TrialRunner trains for one split of a trial (seed = the trial's
seed). Its agent and env are seeded as TrialRunner seeds them, so a member trains the same
agent the per-trial path trains for that split (tests/engine/population prove it), then
is scored the same way (deterministic backtest of the mean action on the split's test
blocks: agent Sharpe - equal-weight Sharpe).

Members whose shape-changing hyperparameters agree share a bucket (`bucket_key`); each
bucket is one PopulationRunner (one stacked network, one env of K × n envs).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from engine.agent.hyperparams import Hyperparams
from engine.config import Config
from engine.metrics import sharpe
from engine.population.env import PopulationVecEnv
from engine.population.ppo import PopulationPPO
from engine.study.baselines import bar_index, baseline_actives, used_ranges
from engine.study.objective import FINAL, StudyData, episode_len_for, evaluate, select_splits
from engine.study.trace import Trace, objective_of


@dataclass(frozen=True)
class Member:
    trial: int          # the Optuna trial it belongs to
    hp: Hyperparams
    seed: int           # the trial's seed (TrialRunner's `seed`)
    split_i: int        # index into select_splits(cfg, data)
    seed_i: int = 0     # which of [study] seeds (TrialRunner trains each split `seeds` times)
    n_seeds: int = 1    # [study] seeds of the study
    final_unit: int = 0  # for the final fit (split_i == FINAL): its TrialRunner unit index

    @property
    def unit_i(self) -> int:
        """TrialRunner's unit index of this (split, seed), or of the final fit."""
        if self.split_i == FINAL:
            return self.final_unit
        return self.split_i * self.n_seeds + self.seed_i


def trial_members(trial: int, hp: Hyperparams, n_splits: int, n_seeds: int) -> list[Member]:
    """A trial's members: each (CPCV split, seed), then the final fit on every bar before the
    held-out segment (its model), as the per-trial path trains them."""
    return [*(Member(trial, hp, trial, i, k, n_seeds) for i in range(n_splits)
              for k in range(n_seeds)),
            Member(trial, hp, trial, FINAL, 0, n_seeds, final_unit=n_splits * n_seeds)]


def members_per_trial(n_splits: int, n_seeds: int) -> int:
    """How many members a trial puts in a population (what sizing must count per trial)."""
    return len(trial_members(0, Hyperparams(), n_splits, n_seeds))


BATCHED_RNG_MIN = 64


def use_batched_rng(device: str, k: int) -> bool:
    """One generator for the population (engine.population.ppo) on CUDA with many members;
    per-member generators (each member equals its serial run) otherwise."""
    return device.startswith("cuda") and k > BATCHED_RNG_MIN


def updates_per_split(hp: Hyperparams) -> int:
    return max(1, math.ceil(hp.total_steps / (hp.n_envs * hp.n_steps)))


def bucket_key(hp: Hyperparams, minibatch: int | None = None) -> tuple[int, ...]:
    """Members with equal keys can share one population (same tensor shapes, same loops)."""
    mb = max(1, min(minibatch, hp.batch)) if minibatch else hp.effective_minibatch
    return (hp.hidden, hp.n_envs, hp.n_steps, hp.epochs, mb, updates_per_split(hp))


def buckets(members: list[Member], minibatch: int | None = None) -> list[list[Member]]:
    groups: dict[tuple[int, ...], list[Member]] = {}
    for m in members:
        groups.setdefault(bucket_key(m.hp, minibatch), []).append(m)
    return list(groups.values())


def agent_seed(m: Member) -> int:
    return m.seed * 1000 + (m.split_i % 1000) + 100_000 * m.seed_i   # TrialRunner._new_agent


def env_seed(m: Member, global_updates: int) -> int:
    return m.seed * 7919 + m.unit_i * 131 + global_updates   # TrialRunner._train


def split_score(act: Callable[[np.ndarray], np.ndarray], cfg: Config, data: StudyData,
                test: tuple[tuple[int, int], ...]) -> dict[str, Any]:
    """TrialRunner's per-split metrics of a deterministic policy."""
    ev = evaluate(act, data, cfg.env, test)
    sh = ev.sharpes(data.bar_seconds)
    active = ev.agent_returns - ev.ew_returns  # the Sharpe of active returns (objective.py)
    score = sharpe(active, data.bar_seconds)
    return {**sh, "score": score if math.isfinite(score) else 0.0, "raw_score": score,
            "trades": ev.trades, "fees": ev.fees, "active": active}


@dataclass
class PopulationRunner:
    """Trains one bucket of members for their updates_per_split updates, resumably."""

    cfg: Config
    data: StudyData
    members: list[Member]
    device: str = "cpu"
    minibatch: int | None = None      # overrides every member's minibatch (OOM halving)
    on_update: Callable[[PopulationRunner], None] | None = None
    batched_rng: bool | None = None   # None: batched on CUDA above BATCHED_RNG_MIN members
    agent: PopulationPPO = field(init=False)

    def __post_init__(self) -> None:
        from engine.features import obs_dim

        if len(buckets(self.members, self.minibatch)) != 1:
            raise ValueError("a population's members must share one bucket_key")
        self.splits = select_splits(self.cfg, self.data)
        self.updates_per_split = updates_per_split(self.members[0].hp)
        self.obs_dim = obs_dim(self.data.spec, self.data.prices.shape[1])
        self.episode_lens = [episode_len_for(m.hp, self.segments(m), self.data.min_start)
                             for m in self.members]
        self.agent = PopulationPPO(self.obs_dim, int(self.data.prices.shape[1]),
                                   [m.hp for m in self.members],
                                   [agent_seed(m) for m in self.members], self.device,
                                   minibatch=self.minibatch,
                                   batched_rng=use_batched_rng(self.device, len(self.members))
                                   if self.batched_rng is None else self.batched_rng)

    @property
    def k(self) -> int:
        return len(self.members)

    @property
    def progress(self) -> float:
        return min(1.0, self.agent.updates / self.updates_per_split)

    def make_env(self) -> PopulationVecEnv:
        done = self.agent.updates
        return PopulationVecEnv(
            self.data.prices, self.data.features, self.data.spec, self.cfg.env,
            self.members[0].hp.n_envs, self.device, self.episode_lens,
            [env_seed(m, m.unit_i * self.updates_per_split + done) for m in self.members],
            [self.segments(m) for m in self.members])

    def segments(self, m: Member) -> tuple[tuple[int, int], ...]:
        """A member's training bars: its split's, or every CV bar for the final fit."""
        return (self.data.cv,) if m.split_i == FINAL else self.splits[m.split_i].train

    def train(self) -> None:
        env = self.make_env()
        obs = env.reset()
        while self.agent.updates < self.updates_per_split:
            obs, _ = self.agent.learn(env, obs)
            if self.on_update is not None:
                self.on_update(self)

    def actor(self, i: int) -> Any:
        return self.agent.policy.unstack(i)[0]

    def score(self, i: int) -> dict[str, Any]:
        from engine.agent.policy import numpy_policy

        m = self.members[i]
        split = self.splits[m.split_i]
        return {**split_score(numpy_policy(self.actor(i)), self.cfg, self.data, split.test),
                "test_groups": list(split.test_groups), "split": m.split_i, "seed": m.seed_i}

    def effective_config(self, i: int) -> dict[str, Any]:
        hp = self.members[i].hp
        return {"lr": hp.lr, "gamma": hp.gamma, "gae_lambda": hp.gae_lambda, "clip": hp.clip,
                "n_envs": hp.n_envs, "n_steps": hp.n_steps, "epochs": hp.epochs,
                "minibatch": self.agent.minibatch, "ent_coef": hp.ent_coef,
                "vf_coef": hp.vf_coef, "max_grad_norm": hp.max_grad_norm,
                "hidden": hp.hidden, "init_log_std": hp.init_log_std,
                "total_steps": hp.total_steps, "episode_len": self.episode_lens[i],
                "noise_hold": hp.noise_hold,
                "device": str(self.agent.device), "population": self.k}

    # -- checkpoints: one state per member --------------------------------------------------
    def member_state(self, i: int) -> dict[str, Any]:
        return self.agent.member_state(i)

    def load_member_state(self, i: int, state: dict[str, Any]) -> None:
        self.agent.load_member_state(i, state)


def trial_trace(cfg: Config, data: StudyData, split_metrics: list[dict[str, Any]],
                holdout_active: np.ndarray) -> Trace:
    """The trial's evidence (engine.study.trace) from its members, as TrialRunner keeps it."""
    close = data.prices.detach().cpu().numpy()
    splits = select_splits(cfg, data)
    t = Trace()
    for s in split_metrics:
        i = int(s["split"])
        if i not in t.splits:
            sp = splits[i]
            base, _ = baseline_actives(close, sp.train, sp.test, data.min_start)
            t.add_split(i, bar_index(used_ranges(sp.test, data.min_start)), base)
        t.add_active(i, s["active"])
    base, _ = baseline_actives(close, (data.cv,), (data.holdout,), data.min_start)
    t.set_holdout(bar_index(used_ranges((data.holdout,), data.min_start)), holdout_active, base)
    return t


def trial_metrics(cfg: Config, data: StudyData, split_metrics: list[dict[str, Any]],
                  last_actor: Any, env_steps: int, updates: int,
                  effective: dict[str, Any]) -> tuple[dict[str, Any], Trace]:
    """TrialRunner.final_metrics from a trial's members (unit order: split, then seed) and the
    trial's trace: the objective is mean - SE over splits of the seeds' mean active
    Sharpe (trace.objective_of). `last_actor` is the final fit's (every CV bar), the model, which
    is backtested on the holdout."""
    from engine.agent.policy import numpy_policy

    scores = [float(s["score"]) for s in split_metrics]
    n_seeds = 1 + max((int(s.get("seed", 0)) for s in split_metrics), default=0)
    seed_means = [float(np.mean([x["score"] for x in split_metrics
                                 if int(x.get("seed", 0)) == k])) for k in range(n_seeds)]
    ev = evaluate(numpy_policy(last_actor), data, cfg.env, (data.holdout,))
    sh = ev.sharpes(data.bar_seconds)
    eq = np.cumprod(1 + ev.agent_returns)
    active = ev.agent_returns - ev.ew_returns
    trace = trial_trace(cfg, data, split_metrics, active)
    splits = [{k: v for k, v in s.items() if k not in ("raw_score", "active")}
              | {"score": s["raw_score"]} for s in split_metrics]
    return {
        "objective": objective_of(trace, data.bar_seconds), "split_scores": scores,
        "objective_kind": "mean - SE over splits of the seeds' mean active Sharpe (population)",
        "seeds": n_seeds, "seed_scores": seed_means,
        "seed_spread": float(np.std(seed_means, ddof=1)) if n_seeds > 1 else 0.0,
        "splits": splits, **sh,
        "holdout_active_sharpe": sharpe(active, data.bar_seconds),
        "holdout_bars": [int(data.holdout[0]), int(data.holdout[1])],
        "cv_bars": [int(data.cv[0]), int(data.cv[1])], "embargo_bars": data.embargo,
        "total_return": float(eq[-1] - 1.0) if eq.size else 0.0,
        "holdout_trades": ev.trades, "holdout_fees": ev.fees,
        "model_fit": "all CV bars (everything before the held-out segment)",
        "env_steps": env_steps, "updates": updates, "effective_hp": effective,
    }, trace


def to_cpu(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy()
