"""Actor and critic MLPs (CleanRL-style). The actor's mean action is tanh-squashed to [-1, 1]."""

from __future__ import annotations

from typing import cast

import torch
from torch import nn


def mlp(inp: int, hidden: int, out: int, std_out: float = 1.0) -> nn.Sequential:
    layers = [nn.Linear(inp, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
              nn.Linear(hidden, out)]
    for layer in layers:
        if isinstance(layer, nn.Linear):
            nn.init.orthogonal_(layer.weight, 2**0.5)
            nn.init.zeros_(layer.bias)
    head = cast(nn.Linear, layers[-1])  # the Linear(hidden, out) built above
    nn.init.orthogonal_(head.weight, std_out)  # small last layer: near-zero first actions
    return nn.Sequential(*layers)


class Actor(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden: int, init_log_std: float = -2.5):
        super().__init__()
        self.net = mlp(obs_dim, hidden, act_dim, std_out=0.01)
        self.log_std = nn.Parameter(torch.full((act_dim,), init_log_std))

    def mean(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(obs))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.mean(obs)


class Critic(nn.Module):
    def __init__(self, obs_dim: int, hidden: int):
        super().__init__()
        self.net = mlp(obs_dim, hidden, 1, std_out=1.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        value: torch.Tensor = self.net(obs).squeeze(-1)
        return value
