"""PPO (CleanRL-style, continuous actions) over a batched torch env.

The env contract (engine.env.vec_env.PortfolioVecEnv and the test envs): attributes
`n_envs`, `obs_dim`, `act_dim`; `reset() -> obs (n_envs, obs_dim)`;
`step(actions) -> (obs, reward (n_envs,), done (n_envs,), info)`, resetting finished
envs itself. Actions are in [-1, 1]: the policy is a Gaussian around the actor's tanh
mean; the sampled action is clipped for the env and the unclipped one is kept for the
log-probability (as CleanRL does). Evaluation is deterministic: the mean.

Held exploration noise (`noise_hold`): the Gaussian noise is drawn at a rollout's first step
and every noise_hold steps after, and held in between (temporally correlated exploration,
cf. gSDE, Raffin et al. 2022). Why: with target weights and a no-trade band, noise drawn
every bar either stays inside the band (PPO sees no reward for trading and learns nothing)
or crosses it every few bars and churns (a random policy pays fees all week). Held noise is
a tilt that lasts long enough to earn or lose what trading would, but changes the targets
only when redrawn (engine.bench.band measures both sides). Each step's log-probability is
still that of the per-step Gaussian policy, whose mean is what deploys.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

import torch
from torch import nn

from engine.agent.hyperparams import Hyperparams
from engine.model.network import Actor, Critic


class NaNLossError(RuntimeError):
    """A loss became NaN/inf: the trial fails with this reason, the study goes on."""


class VecEnv(Protocol):
    n_envs: int
    obs_dim: int
    act_dim: int

    def reset(self) -> torch.Tensor: ...
    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Any]: ...


@dataclass
class Rollout:
    obs: torch.Tensor        # (S, N, obs_dim)
    actions: torch.Tensor    # (S, N, act_dim), unclipped
    logprobs: torch.Tensor   # (S, N)
    rewards: torch.Tensor    # (S, N)
    dones: torch.Tensor      # (S, N) 1.0 where the episode ended after this step
    values: torch.Tensor     # (S, N)
    last_value: torch.Tensor  # (N,)


def gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor,
        last_value: torch.Tensor, gamma: float | torch.Tensor,
        lam: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation; returns (advantages, returns), each (S, N).

    `gamma`/`lam` may be tensors that broadcast against a step (a population's per-member
    (K, 1) values: engine.population.ppo)."""
    steps = rewards.shape[0]
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(last_value)
    for t in reversed(range(steps)):
        next_value = last_value if t == steps - 1 else values[t + 1]
        nonterminal = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_value * nonterminal - values[t]
        last = delta + gamma * lam * nonterminal * last
        adv[t] = last
    return adv, adv + values


class PPO:
    """Actor, critic, one Adam optimiser; collect() then update(), or learn()."""

    def __init__(self, obs_dim: int, act_dim: int, hp: Hyperparams, device: str = "cpu",
                 seed: int = 0) -> None:
        self.hp = hp
        self.device = torch.device(device)
        # Own generators (not the global RNG): a resumed agent continues the same streams.
        self.gen = torch.Generator(device="cpu").manual_seed(seed)
        self.sample_gen = torch.Generator(device=self.device).manual_seed(seed + 1)
        torch.manual_seed(seed)  # weight initialisation
        self.actor = Actor(obs_dim, act_dim, hp.hidden, init_log_std=hp.init_log_std).to(self.device)
        self.critic = Critic(obs_dim, hp.hidden).to(self.device)
        self.optimizer = torch.optim.Adam(
            list(self.actor.parameters()) + list(self.critic.parameters()), lr=hp.lr, eps=1e-5)
        self.minibatch = hp.effective_minibatch  # halved on OOM retries
        self.updates = 0
        self.env_steps = 0
        # Called as hook(stage, update) inside training steps (fault injection in tests).
        self.hooks: list[Callable[[str, int], None]] = []
        self.last_stats: dict[str, float] = {}

    # -- policy -----------------------------------------------------------------------
    def _dist(self, obs: torch.Tensor) -> torch.distributions.Normal:
        mean = self.actor.mean(obs)
        # validate_args=False: NaN weights must surface as a NaN loss (NaNLossError), not
        # as a ValueError from the distribution.
        return torch.distributions.Normal(mean, self.actor.log_std.exp().expand_as(mean),
                                          validate_args=False)

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic action (the mean), in [-1, 1]."""
        return self.actor.mean(obs.to(self.device))

    # -- rollout ----------------------------------------------------------------------
    @torch.no_grad()
    def collect(self, env: VecEnv, obs: torch.Tensor) -> tuple[Rollout, torch.Tensor]:
        steps, n = self.hp.n_steps, env.n_envs
        dev = self.device
        b_obs = torch.empty((steps, n, obs.shape[-1]), device=dev)
        b_act = torch.empty((steps, n, env.act_dim), device=dev)
        b_logp = torch.empty((steps, n), device=dev)
        b_rew = torch.empty((steps, n), device=dev)
        b_done = torch.empty((steps, n), device=dev)
        b_val = torch.empty((steps, n), device=dev)
        noise = torch.zeros((n, env.act_dim), device=dev)
        for t in range(steps):
            obs = obs.to(dev)
            dist = self._dist(obs)
            # Drawn every step (the generator's stream does not depend on noise_hold), used
            # afresh only every noise_hold steps: see the module docstring.
            fresh = torch.randn(dist.loc.shape, generator=self.sample_gen, device=dev)
            noise = fresh if t % self.hp.noise_hold == 0 else noise
            action = dist.loc + dist.scale * noise
            b_obs[t] = obs
            b_act[t] = action
            b_logp[t] = dist.log_prob(action).sum(-1)
            b_val[t] = self.critic(obs)
            obs, reward, done, _ = env.step(action.clamp(-1.0, 1.0))
            b_rew[t] = reward.to(dev)
            b_done[t] = done.to(dev).float()
        self.env_steps += steps * n
        last_value = self.critic(obs.to(dev))
        return Rollout(b_obs, b_act, b_logp, b_rew, b_done, b_val, last_value), obs

    # -- update -----------------------------------------------------------------------
    def update(self, ro: Rollout) -> dict[str, float]:
        hp = self.hp
        adv, ret = gae(ro.rewards, ro.values, ro.dones, ro.last_value, hp.gamma, hp.gae_lambda)
        obs = ro.obs.reshape(-1, ro.obs.shape[-1])
        act = ro.actions.reshape(-1, ro.actions.shape[-1])
        logp_old = ro.logprobs.reshape(-1)
        adv, ret = adv.reshape(-1), ret.reshape(-1)
        total = obs.shape[0]
        mb = max(1, min(self.minibatch, total))
        params = list(self.actor.parameters()) + list(self.critic.parameters())
        stats = {"pg_loss": 0.0, "v_loss": 0.0, "entropy": 0.0, "clipfrac": 0.0,
                 "approx_kl": 0.0, "grad_norm": 0.0}
        n_mb = 0
        for _ in range(hp.epochs):
            perm = torch.randperm(total, generator=self.gen).to(self.device)
            for start in range(0, total, mb):
                idx = perm[start:start + mb]
                for hook in self.hooks:
                    hook("minibatch", self.updates)
                dist = self._dist(obs[idx])
                logp = dist.log_prob(act[idx]).sum(-1)
                entropy = dist.entropy().sum(-1).mean()
                log_ratio = logp - logp_old[idx]
                ratio = log_ratio.exp()
                a = adv[idx]
                a = (a - a.mean()) / (a.std() + 1e-8) if a.numel() > 1 else a
                pg_loss = torch.max(-a * ratio, -a * ratio.clamp(1 - hp.clip, 1 + hp.clip)).mean()
                v_loss = 0.5 * (self.critic(obs[idx]) - ret[idx]).pow(2).mean()
                loss = pg_loss - hp.ent_coef * entropy + hp.vf_coef * v_loss
                if not torch.isfinite(loss):
                    raise NaNLossError(f"loss is {loss.item()} at update {self.updates} "
                                       f"(pg {pg_loss.item():.4g}, v {v_loss.item():.4g})")
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = nn.utils.clip_grad_norm_(params, hp.max_grad_norm)
                self.optimizer.step()
                with torch.no_grad():
                    stats["pg_loss"] += pg_loss.item()
                    stats["v_loss"] += v_loss.item()
                    stats["entropy"] += entropy.item()
                    stats["clipfrac"] += ((ratio - 1).abs() > hp.clip).float().mean().item()
                    stats["approx_kl"] += ((ratio - 1) - log_ratio).mean().item()
                    stats["grad_norm"] += float(grad_norm)
                n_mb += 1
        self.updates += 1
        self.last_stats = {k: v / max(n_mb, 1) for k, v in stats.items()}
        self.last_stats["minibatches"] = float(n_mb)
        return self.last_stats

    def learn(self, env: VecEnv, obs: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """One collect + update; returns the next observation and the update's statistics."""
        ro, obs = self.collect(env, obs)
        return obs, self.update(ro)

    def n_updates(self, total_steps: int, n_envs: int) -> int:
        return max(1, math.ceil(total_steps / (n_envs * self.hp.n_steps)))

    # -- what was actually used (recorded with every attempt) ---------------------------
    def effective_config(self, env: VecEnv | None = None) -> dict[str, Any]:
        first = cast(nn.Linear, self.actor.net[0])  # mlp() starts with a Linear layer
        return {
            "lr": self.optimizer.param_groups[0]["lr"], "gamma": self.hp.gamma,
            "gae_lambda": self.hp.gae_lambda, "clip": self.hp.clip,
            "n_envs": env.n_envs if env is not None else self.hp.n_envs,
            "n_steps": self.hp.n_steps, "epochs": self.hp.epochs, "minibatch": self.minibatch,
            "ent_coef": self.hp.ent_coef, "vf_coef": self.hp.vf_coef,
            "max_grad_norm": self.hp.max_grad_norm, "hidden": int(first.out_features),
            "init_log_std": self.hp.init_log_std, "total_steps": self.hp.total_steps,
            "episode_len": self.hp.episode_len, "noise_hold": self.hp.noise_hold,
            "device": str(self.device),
        }

    # -- checkpoint state ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "optimizer": self.optimizer.state_dict(), "updates": self.updates,
                "env_steps": self.env_steps, "gen": self.gen.get_state(),
                "sample_gen": self.sample_gen.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
        self.env_steps = int(state["env_steps"])
        self.gen.set_state(state["gen"])
        self.sample_gen.set_state(state["sample_gen"])
