"""One PortfolioVecEnv of K × n envs: member k owns envs [k·n, (k+1)·n).

Every member shares the price and feature tensors (one copy on the device) but has its
own training segments (its CPCV split), its own episode length and its own generator for
episode starts, drawn exactly as engine.study.objective.SegmentEnv draws them. So member
k's envs see the same start bars as a SegmentEnv of n envs seeded with seeds[k].

All of a member's envs start together and run the same episode length, so they also end
together: the host knows which members reset on each step from plain counters, without
reading anything back from the device (resets are slices of the state, not masks).
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
                 seeds: list[int], segments: list[tuple[Range, ...]], *,
                 step_mode: str = "auto") -> None:
        k = len(seeds)
        if not (len(episode_lens) == len(segments) == k >= 1):
            raise ValueError("episode_lens, seeds and segments need one entry per member")
        super().__init__(prices, features, spec, env_cfg, k * n_per_member, device,
                         max(episode_lens), seed=0, step_mode=step_mode)
        self.k, self.n = k, int(n_per_member)
        self.member_episode_len = [int(e) for e in episode_lens]
        self.allowed = [allowed_starts(seg, self.min_start, e).to(self.device)
                        for seg, e in zip(segments, self.member_episode_len, strict=True)]
        self.gens = [torch.Generator(device=self.device).manual_seed(int(s)) for s in seeds]
        self.member_steps = [0] * k

    @property
    def steps(self) -> torch.Tensor:
        """Steps of each env's episode so far (K·n,) long."""
        return torch.tensor(self.member_steps, dtype=torch.long, device=self.device
                            ).repeat_interleave(self.n)

    def _draw(self, m: int) -> torch.Tensor:
        """Member m's next n start bars, from its own generator."""
        pick = torch.randint(0, self.allowed[m].numel(), (self.n,), generator=self.gens[m],
                             device=self.device)
        return self.allowed[m][pick]

    def _starts(self, n: int) -> torch.Tensor:
        """Start bars of every member's envs, in env order."""
        return torch.cat([self._draw(m) for m in range(self.k)])

    def reset(self) -> torch.Tensor:
        self.member_steps = [0] * self.k
        return super().reset()

    def steps_to_episode_end(self) -> int:
        return min(e - s for s, e in zip(self.member_steps, self.member_episode_len,
                                         strict=True))

    def host_clock(self) -> Any:
        return list(self.member_steps)

    def set_host_clock(self, clock: Any) -> None:
        self.member_steps = [int(s) for s in clock]

    def advance_host_clock(self, steps: int) -> None:
        if steps >= self.steps_to_episode_end():
            raise ValueError(f"{steps} steps would cross an episode end")
        self.member_steps = [s + steps for s in self.member_steps]

    def _end_episodes(self) -> tuple[torch.Tensor, bool]:
        self.member_steps = [s + 1 for s in self.member_steps]
        ending = [s >= e for s, e in zip(self.member_steps, self.member_episode_len,
                                          strict=True)]
        if not any(ending):
            return self._none_done, False
        if all(ending):
            self.member_steps = [0] * self.k
            self._reset_envs(0, self.n_envs, self._starts(self.n_envs))
            return self._all_done, True
        done = torch.zeros(self.n_envs, dtype=torch.bool, device=self.device)
        for lo, hi in _runs(ending):   # members side by side reset as one slice
            for m in range(lo, hi):
                self.member_steps[m] = 0
            a, b = lo * self.n, hi * self.n
            self._reset_envs(a, b, torch.cat([self._draw(m) for m in range(lo, hi)]))
            done[a:b] = True
        return done, True


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    """[lo, hi) index ranges where flags are True."""
    out: list[tuple[int, int]] = []
    for i, f in enumerate(flags):
        if f and out and out[-1][1] == i:
            out[-1] = (out[-1][0], i + 1)
        elif f:
            out.append((i, i + 1))
    return out
