"""A tiny batched env for PPO tests (no market data): reward is high when the action
matches a hidden target derived from the observation. Episodes last `episode_len` steps."""

from __future__ import annotations

import torch


class ToyEnv:
    def __init__(self, n_envs: int = 8, obs_dim: int = 6, act_dim: int = 2,
                 episode_len: int = 16, seed: int = 0) -> None:
        self.n_envs, self.obs_dim, self.act_dim = n_envs, obs_dim, act_dim
        self.episode_len = episode_len
        self.gen = torch.Generator().manual_seed(seed)
        self.w = torch.randn((obs_dim, act_dim), generator=self.gen)
        self.t = torch.zeros(n_envs, dtype=torch.long)
        self.obs = torch.zeros(n_envs, obs_dim)

    def _new_obs(self) -> torch.Tensor:
        return torch.randn((self.n_envs, self.obs_dim), generator=self.gen)

    def reset(self) -> torch.Tensor:
        self.t.zero_()
        self.obs = self._new_obs()
        return self.obs

    def step(self, actions: torch.Tensor):
        target = torch.tanh(self.obs @ self.w)
        reward = -(actions - target).pow(2).sum(-1)
        self.t += 1
        done = self.t >= self.episode_len
        self.t[done] = 0
        self.obs = self._new_obs()
        return self.obs, reward, done, {}
