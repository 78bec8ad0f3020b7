"""One PortfolioVecEnv of K × n envs: member k owns envs [k·n, (k+1)·n).

Every member shares the price and feature tensors (one copy on the device) but has its
own training segments (its CPCV split), its own episode length and its own generator for
episode starts, drawn exactly as engine.study.objective.SegmentEnv draws them. So member
k's envs see the same start bars as a SegmentEnv of n envs seeded with seeds[k].

All of a member's envs start together and run the same episode length, so they also end
together: the host knows which members reset on each step from plain counters, without
reading anything back from the device.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.env.vec_env import PortfolioVecEnv
from engine.study.cpcv import Range


def allowed_starts(segments: tuple[Range, ...], min_start: int, episode_len: int) -> torch.Tensor:
    """SegmentEnv's start bars: where a whole episode fits inside one segment."""
    starts = [torch.arange(max(a, min_start), b - episode_len)
              for a, b in segments if b - episode_len > max(a, min_start)]
    if not starts:
        raise ValueError(f"no training segment holds an episode of {episode_len} bars")
    return torch.cat(starts)


class PopulationVecEnv(PortfolioVecEnv):
    def __init__(self, prices: torch.Tensor, features: torch.Tensor, spec: Any, env_cfg: Any,
                 n_per_member: int, device: str | torch.device, episode_lens: list[int],
                 seeds: list[int], segments: list[tuple[Range, ...]]) -> None:
        k = len(seeds)
        if not (len(episode_lens) == len(segments) == k >= 1):
            raise ValueError("episode_lens, seeds and segments need one entry per member")
        super().__init__(prices, features, spec, env_cfg, k * n_per_member, device,
                         max(episode_lens), seed=0)
        self.k, self.n = k, int(n_per_member)
        self.member_episode_len = [int(e) for e in episode_lens]
        self.episode_len = torch.tensor(self.member_episode_len, device=self.device
                                        ).repeat_interleave(self.n)   # per env: (K·n,)
        self.allowed = [allowed_starts(seg, self.min_start, e).to(self.device)
                        for seg, e in zip(segments, self.member_episode_len, strict=True)]
        self.gens = [torch.Generator(device=self.device).manual_seed(int(s)) for s in seeds]
        self.member_steps = [0] * k
        self._resetting: list[int] = list(range(k))

    def _starts(self, n: int) -> torch.Tensor:
        """Start bars of the envs of the members that reset now, in env order."""
        draws = [self.allowed[m][torch.randint(0, self.allowed[m].numel(), (self.n,),
                                               generator=self.gens[m], device=self.device)]
                 for m in self._resetting]
        return torch.cat(draws) if draws else torch.empty(0, dtype=torch.long,
                                                          device=self.device)

    def _any_done(self, done: torch.Tensor) -> bool:
        return bool(self._resetting)   # known on the host: no read-back from the device

    def reset(self) -> torch.Tensor:
        self._resetting = list(range(self.k))
        self.member_steps = [0] * self.k
        return super().reset()

    def step(self, actions: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        self.member_steps = [s + 1 for s in self.member_steps]
        self._resetting = [m for m in range(self.k)
                           if self.member_steps[m] >= self.member_episode_len[m]]
        for m in self._resetting:
            self.member_steps[m] = 0
        return super().step(actions)
