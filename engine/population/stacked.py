"""K actor/critic MLPs stacked along a leading member axis, run with batched matmuls.

Member k's weights are exactly what `engine.agent.ppo.PPO(seed=s_k)` would build
(`torch.manual_seed(s_k)`, then Actor, then Critic), stacked: a layer's weight is
(K, out, in) and its bias (K, out). One `baddbmm` per layer runs every member at once,
on CPU or CUDA. `unstack` gives back a plain Actor for evaluation and model files.
"""

from __future__ import annotations

import math
from typing import cast

import torch

from engine.model.network import Actor, Critic

LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))   # torch.distributions.Normal's constant
ENTROPY_CONST = 0.5 + 0.5 * math.log(2 * math.pi)


def _linears(net: torch.nn.Sequential) -> list[torch.nn.Linear]:
    return [m for m in net if isinstance(m, torch.nn.Linear)]


class StackedMLP:
    """tanh MLP (Linear-Tanh-Linear-Tanh-Linear) with a member axis; leaf tensors only."""

    def __init__(self, weights: list[torch.Tensor], biases: list[torch.Tensor]) -> None:
        self.weights = weights   # each (K, out, in)
        self.biases = biases     # each (K, out)

    @classmethod
    def stack(cls, nets: list[torch.nn.Sequential], device: torch.device) -> StackedMLP:
        layers = [_linears(n) for n in nets]
        ws = [torch.stack([m[i].weight.detach() for m in layers]).to(device).requires_grad_()
              for i in range(len(layers[0]))]
        bs = [torch.stack([m[i].bias.detach() for m in layers]).to(device).requires_grad_()
              for i in range(len(layers[0]))]
        return cls(ws, bs)

    def parameters(self) -> list[torch.Tensor]:
        return [t for pair in zip(self.weights, self.biases, strict=True) for t in pair]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x (K, B, in) -> (K, B, out)."""
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))
            if i < last:   # in place: baddbmm's backward needs its inputs, not its output
                x = x.tanh_()
        return x

    def load_into(self, net: torch.nn.Sequential, k: int) -> None:
        with torch.no_grad():
            for m, w, b in zip(_linears(net), self.weights, self.biases, strict=True):
                m.weight.copy_(w[k])
                m.bias.copy_(b[k])


class StackedPolicy:
    """K Gaussian policies (tanh mean, state-independent log std) and K critics."""

    def __init__(self, actors: list[Actor], critics: list[Critic], device: torch.device) -> None:
        self.actor = StackedMLP.stack([a.net for a in actors], device)
        self.critic = StackedMLP.stack([c.net for c in critics], device)
        self.log_std = torch.stack([a.log_std.detach() for a in actors]).to(device).requires_grad_()
        self.hidden = int(cast(torch.nn.Linear, actors[0].net[0]).out_features)  # mlp(): Linear 1st

    @classmethod
    def init(cls, seeds: list[int], obs_dim: int, act_dim: int, hidden: int,
             init_log_std: list[float], device: torch.device) -> StackedPolicy:
        """Member k initialised exactly as PPO(seed=seeds[k]) initialises its networks."""
        actors, critics = [], []
        for seed, log_std in zip(seeds, init_log_std, strict=True):
            torch.manual_seed(seed)
            actors.append(Actor(obs_dim, act_dim, hidden, init_log_std=log_std))
            critics.append(Critic(obs_dim, hidden))
        return cls(actors, critics, device)

    @property
    def k(self) -> int:
        return int(self.log_std.shape[0])

    def parameters(self) -> list[torch.Tensor]:
        return [*self.actor.parameters(), self.log_std, *self.critic.parameters()]

    def mean(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs).tanh_()   # the last layer's fresh output, as in __call__

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def std(self) -> torch.Tensor:
        return self.log_std.exp().unsqueeze(1)   # (K, 1, A)

    @staticmethod
    def log_prob(action: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        """Summed over the action dims; Normal.log_prob's formula, term for term."""
        var = std**2
        lp = -((action - mean) ** 2) / (2 * var) - std.log() - LOG_SQRT_2PI
        return lp.sum(-1)

    def entropy(self) -> torch.Tensor:
        """(K,) per-member entropy (state-independent: it depends on the log std only)."""
        return (ENTROPY_CONST + torch.log(self.log_std.exp())).sum(-1)

    def unstack(self, k: int) -> tuple[Actor, Critic]:
        """Member k as plain modules (CPU), for evaluation and model files."""
        obs_dim = int(self.actor.weights[0].shape[2])
        act_dim = int(self.log_std.shape[1])
        actor, critic = Actor(obs_dim, act_dim, self.hidden), Critic(obs_dim, self.hidden)
        self.actor.load_into(actor.net, k)
        self.critic.load_into(critic.net, k)
        with torch.no_grad():
            actor.log_std.copy_(self.log_std[k])
        return actor, critic

    # -- per-member state (checkpoints) ---------------------------------------------------
    def member_state(self, k: int) -> list[torch.Tensor]:
        return [p.detach()[k].cpu().clone() for p in self.parameters()]

    def load_member_state(self, k: int, state: list[torch.Tensor]) -> None:
        with torch.no_grad():
            for p, s in zip(self.parameters(), state, strict=True):
                p[k].copy_(s)
