"""PPO for K members at once (CleanRL-style), on one device.

Member k is the PPO of engine.agent.ppo with hyperparameters hps[k] and seed seeds[k]:
the same network initialisation, the same generators (randperm on the CPU generator
seeded s, action noise on the device generator seeded s + 1), the same loss, clipping
and Adam. Only the arithmetic is batched: networks are stacked (engine.population.stacked),
the env is one PopulationVecEnv of K × n envs, and the plain-number hyperparameters (lr,
gamma, λ, clip, entropy and value coefficients, grad-norm clip) are tensors of length K.
Shape-changing ones (hidden, n_envs, n_steps, minibatch, epochs) must be equal: the
caller groups members into buckets (engine.population.members.bucket_key).

Losses of all members are summed before one backward: members share no parameter, so each
member's gradient is its own loss's. Grad-norm clipping and Adam are per member. A member
whose loss is not finite is marked failed (`failed`) and frozen; an inactive member
(pruned, failed) keeps stepping its envs but no longer learns.

No host synchronisation in the rollout loop (tests/engine/population/test_env.py).

Random numbers: by default each member draws from its own generators, as its serial run
would (K small draws per rollout and per epoch). With batched_rng, one generator serves the
whole population (one draw for all members' action noise, one batched argsort for all
minibatch permutations): what large populations on a GPU need (K CPU permutations of 16k
rows each cost about 0.7 ms apiece), at the price of members matching their serial runs in
distribution only, not number for number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from engine.agent.hyperparams import Hyperparams
from engine.agent.ppo import gae as agent_gae
from engine.population.stacked import StackedPolicy

BETA1, BETA2, ADAM_EPS = 0.9, 0.999, 1e-5   # engine.agent.ppo's Adam
STATS = ("pg_loss", "v_loss", "entropy", "clipfrac", "approx_kl", "grad_norm")
SHARED = ("hidden", "n_envs", "n_steps", "epochs")


@dataclass
class PopRollout:
    obs: torch.Tensor        # (S, K, n, obs_dim)
    actions: torch.Tensor    # (S, K, n, A), unclipped
    logprobs: torch.Tensor   # (S, K, n)
    rewards: torch.Tensor    # (S, K, n)
    dones: torch.Tensor      # (S, K, n)
    values: torch.Tensor     # (S, K, n)
    last_value: torch.Tensor  # (K, n)


def gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor,
        last_value: torch.Tensor, gamma: torch.Tensor, lam: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
    """engine.agent.ppo.gae with per-member gamma and lam of shape (K, 1)."""
    return agent_gae(rewards, values, dones, last_value, gamma, lam)


def _col(values: list[float], device: torch.device) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32, device=device)


class PopulationPPO:
    def __init__(self, obs_dim: int, act_dim: int, hps: list[Hyperparams], seeds: list[int],
                 device: str | torch.device = "cpu", minibatch: int | None = None,
                 batched_rng: bool = False) -> None:
        first = hps[0]
        for name in SHARED:
            if any(getattr(h, name) != getattr(first, name) for h in hps):
                raise ValueError(f"members of one population need the same {name}")
        self.hps, self.seeds = list(hps), list(seeds)
        self.k = len(hps)
        self.device = torch.device(device)
        dev = self.device
        self.n_steps, self.n_envs, self.epochs = first.n_steps, first.n_envs, first.epochs
        mbs = {h.effective_minibatch for h in hps}
        if minibatch is None and len(mbs) > 1:
            raise ValueError("members of one population need the same minibatch")
        self.minibatch = max(1, min(minibatch or mbs.pop(), first.batch))
        self.batched_rng = batched_rng
        self.batch_gen = torch.Generator(device=dev).manual_seed(int(seeds[0]) + 2)
        self.gens = [torch.Generator(device="cpu").manual_seed(s) for s in seeds]
        self.sample_gens = [torch.Generator(device=dev).manual_seed(s + 1) for s in seeds]
        self.policy = StackedPolicy.init(seeds, obs_dim, act_dim, first.hidden,
                                         [h.init_log_std for h in hps], dev)
        self.params = self.policy.parameters()
        self.lr = _col([h.lr for h in hps], dev)
        self.gamma = _col([h.gamma for h in hps], dev).unsqueeze(1)
        self.lam = _col([h.gae_lambda for h in hps], dev).unsqueeze(1)
        self.clip = _col([h.clip for h in hps], dev).unsqueeze(1)
        self.ent_coef = _col([h.ent_coef for h in hps], dev)
        self.vf_coef = _col([h.vf_coef for h in hps], dev)
        self.max_grad_norm = _col([h.max_grad_norm for h in hps], dev)
        self.active = torch.ones(self.k, dtype=torch.bool, device=dev)
        self.failed = torch.zeros(self.k, dtype=torch.bool, device=dev)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.adam_steps = 0
        self.updates = 0
        self.env_steps = 0
        self.last_reward = torch.zeros(self.k, device=dev)   # mean reward of the last rollout
        self.last_stats = torch.zeros(self.k, len(STATS), device=dev)
        # Called as hook(stage, update) inside training steps (fault injection in tests).
        self.hooks: list[Callable[[str, int], None]] = []
        # engine.population.rollout_graph.RolloutGraph: replays collect as one CUDA graph.
        self.rollout_graph: Any = None

    # -- masking ----------------------------------------------------------------------------
    def deactivate(self, members: list[int]) -> None:
        """Stop members from learning (pruned or finished); their slots stay idle."""
        if members:
            self.active[members] = False

    # -- rollout ----------------------------------------------------------------------------
    @torch.no_grad()
    def collect(self, env: Any, obs: torch.Tensor) -> tuple[PopRollout, torch.Tensor]:
        noise = self._noise()
        if self.rollout_graph is not None:   # engine.population.rollout_graph (CUDA only)
            ro, out = self.rollout_graph.collect(env, obs, noise)
            return ro, out
        return self._rollout(env, obs, noise)

    def _noise(self) -> torch.Tensor:
        """(S, K, n, A) action noise of one rollout. Each member's from its own generator:
        on CPU the same numbers as one draw per step when n·A is a multiple of 16."""
        k, n, steps = self.k, self.n_envs, self.n_steps
        act_dim = self.policy.log_std.shape[1]
        if self.batched_rng:
            noise = torch.randn((steps, k, n, act_dim), generator=self.batch_gen,
                                device=self.device)
        else:
            noise = torch.stack([torch.randn((steps, n, act_dim), generator=g,
                                             device=self.device) for g in self.sample_gens],
                                dim=1)
        # Each member's noise held for its noise_hold steps (as engine.agent.ppo.PPO.collect).
        if any(h.noise_hold > 1 for h in self.hps):
            at = torch.arange(steps, device=self.device)
            held = torch.stack([at - at % h.noise_hold for h in self.hps], dim=1)   # (steps, k)
            noise = noise[held, torch.arange(k, device=self.device)]
        return noise

    def _rollout(self, env: Any, obs: torch.Tensor, noise: torch.Tensor
                 ) -> tuple[PopRollout, torch.Tensor]:
        k, n, steps = self.k, self.n_envs, self.n_steps
        act_dim = self.policy.log_std.shape[1]
        b_obs = torch.empty((steps, k, n, obs.shape[-1]), device=self.device)
        b_act = torch.empty((steps, k, n, act_dim), device=self.device)
        b_logp = torch.empty((steps, k, n), device=self.device)
        b_rew = torch.empty((steps, k, n), device=self.device)
        b_done = torch.empty((steps, k, n), device=self.device)
        b_val = torch.empty((steps, k, n), device=self.device)
        std = self.policy.std()
        for t in range(steps):
            o = obs.view(k, n, -1)
            mean = self.policy.mean(o)
            action = mean + std * noise[t]
            b_obs[t] = o
            b_act[t] = action
            b_logp[t] = self.policy.log_prob(action, mean, std)
            b_val[t] = self.policy.value(o)
            obs, reward, done, _ = env.step(action.clamp(-1.0, 1.0).view(k * n, act_dim))
            b_rew[t] = reward.view(k, n)
            b_done[t] = done.view(k, n)
        self.env_steps += steps * n
        self.last_reward = b_rew.mean(dim=(0, 2))
        last_value = self.policy.value(obs.view(k, n, -1))
        return PopRollout(b_obs, b_act, b_logp, b_rew, b_done, b_val, last_value), obs

    # -- update -----------------------------------------------------------------------------
    def update(self, ro: PopRollout) -> torch.Tensor:
        """One PPO update of every member; returns (K, len(STATS)) mean statistics."""
        k = self.k
        adv, ret = gae(ro.rewards, ro.values, ro.dones, ro.last_value, self.gamma, self.lam)

        def flat(x: torch.Tensor) -> torch.Tensor:  # (S, K, n, ...) -> (K, S·n, ...)
            return x.transpose(0, 1).reshape(k, -1, *x.shape[3:])

        obs, act, logp_old = flat(ro.obs), flat(ro.actions), flat(ro.logprobs)
        adv, ret = flat(adv), flat(ret)
        total = obs.shape[1]
        mb = max(1, min(self.minibatch, total))
        offset = torch.arange(k, device=self.device).unsqueeze(1) * total
        stats = torch.zeros(k, len(STATS), device=self.device)
        n_mb = 0
        for _ in range(self.epochs):
            perm = self._permutations(total)
            for start in range(0, total, mb):
                sel = (perm[:, start:start + mb] + offset).view(-1)   # rows of (K·total, ...)

                def take(x: torch.Tensor, sel: torch.Tensor = sel) -> torch.Tensor:
                    # x[rows, idx] as one index_select of whole rows: ~5x faster on CPU
                    return x.reshape(-1, *x.shape[2:]).index_select(0, sel).view(
                        k, -1, *x.shape[2:])

                for hook in self.hooks:
                    hook("minibatch", self.updates)
                stats += self._minibatch(take(obs), take(act), take(logp_old), take(adv),
                                         take(ret))
                n_mb += 1
        self.updates += 1
        self.last_stats = stats / max(n_mb, 1)
        return self.last_stats

    def _permutations(self, total: int) -> torch.Tensor:
        """(K, total) row orders for one epoch."""
        if self.batched_rng:
            keys = torch.rand((self.k, total), generator=self.batch_gen, device=self.device)
            return keys.argsort(dim=1)
        return torch.stack([torch.randperm(total, generator=g) for g in self.gens]
                           ).to(self.device)

    def _minibatch(self, obs: torch.Tensor, act: torch.Tensor, logp_old: torch.Tensor,
                   a: torch.Tensor, ret: torch.Tensor) -> torch.Tensor:
        pol = self.policy
        mean, std = pol.mean(obs), pol.std()
        logp = pol.log_prob(act, mean, std)
        entropy = pol.entropy()
        log_ratio = logp - logp_old
        ratio = log_ratio.exp()
        if a.shape[1] > 1:
            a = (a - a.mean(1, keepdim=True)) / (a.std(1, keepdim=True) + 1e-8)
        clipped = torch.clamp(ratio, 1 - self.clip, 1 + self.clip)
        pg_loss = torch.max(-a * ratio, -a * clipped).mean(1)
        v_loss = 0.5 * (pol.value(obs) - ret).pow(2).mean(1)
        loss = pg_loss - self.ent_coef * entropy + self.vf_coef * v_loss   # (K,)
        self.failed |= ~torch.isfinite(loss) & self.active
        learn = self.active & ~self.failed
        for p in self.params:
            p.grad = None
        torch.where(learn, loss, torch.zeros_like(loss)).sum().backward()
        grad_norm = self._clip_and_step(learn)
        with torch.no_grad():
            return torch.stack([
                pg_loss, v_loss, entropy.expand_as(pg_loss),
                ((ratio - 1).abs() > self.clip).float().mean(1),
                ((ratio - 1) - log_ratio).mean(1), grad_norm], dim=1).detach()

    @torch.no_grad()
    def _clip_and_step(self, learn: torch.Tensor) -> torch.Tensor:
        """Per-member clip_grad_norm_ and Adam (torch's formulas); frozen members keep
        their weights and optimiser state."""
        grads = []
        for p in self.params:
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            shape = (-1,) + (1,) * (g.ndim - 1)
            grads.append(torch.where(learn.view(shape), g, 0.0))   # NaN-safe, unlike g * learn
        norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads])   # (P, K)
        total: torch.Tensor = norms.norm(dim=0)                           # (K,)
        coef = (self.max_grad_norm / (total + 1e-6)).clamp(max=1.0)
        self.adam_steps += 1
        bc1 = 1 - BETA1 ** self.adam_steps
        bc2_sqrt = (1 - BETA2 ** self.adam_steps) ** 0.5
        step_size = torch.where(learn, self.lr / bc1, torch.zeros_like(self.lr))
        for p, g, m, v in zip(self.params, grads, self.exp_avg, self.exp_avg_sq, strict=True):
            shape = (-1,) + (1,) * (g.ndim - 1)
            g = g * coef.view(shape)
            keep = learn.view(shape)
            torch.where(keep, m.lerp(g, 1 - BETA1), m, out=m)   # out=: no extra copy
            torch.where(keep, v * BETA2 + (1 - BETA2) * g * g, v, out=v)
            denom = (v.sqrt() / bc2_sqrt).add_(ADAM_EPS)
            p.sub_(step_size.view(shape) * m / denom)
        return total

    def learn(self, env: Any, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ro, obs = self.collect(env, obs)
        return obs, self.update(ro)

    # -- per-member checkpoint state ----------------------------------------------------------
    def member_state(self, k: int) -> dict[str, Any]:
        return {"params": self.policy.member_state(k),
                "exp_avg": [m[k].cpu().clone() for m in self.exp_avg],
                "exp_avg_sq": [v[k].cpu().clone() for v in self.exp_avg_sq],
                "adam_steps": self.adam_steps, "updates": self.updates,
                "gen": self.gens[k].get_state(), "sample_gen": self.sample_gens[k].get_state(),
                "batch_gen": self.batch_gen.get_state()}

    def load_member_state(self, k: int, state: dict[str, Any]) -> None:
        """Restore member k (all members of a population resume at the same update)."""
        self.policy.load_member_state(k, state["params"])
        with torch.no_grad():
            for m, s in zip(self.exp_avg, state["exp_avg"], strict=True):
                m[k].copy_(s)
            for v, s in zip(self.exp_avg_sq, state["exp_avg_sq"], strict=True):
                v[k].copy_(s)
        self.adam_steps = int(state["adam_steps"])
        self.updates = int(state["updates"])
        self.gens[k].set_state(state["gen"])
        self.sample_gens[k].set_state(state["sample_gen"])
        if "batch_gen" in state:
            self.batch_gen.set_state(state["batch_gen"])
