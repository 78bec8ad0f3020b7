"""A population's rollout replayed as one CUDA graph: one launch for S steps of K·n envs.

PopulationPPO.collect (policy, action noise, log-probs, values, the env step) has no host
read and, between episode ends, no host decision: the host knows from its counters when the
next episode ends. So a rollout with no episode end inside is the same kernels every time,
on the same tensors: captured once, it is replayed with one launch. A rollout that would
cross an episode end runs eagerly (the env resets on the host's word), as does any
rollout until one eager rollout has warmed the kernels and the allocator.

Inputs that change between rollouts are copied into the graph's own tensors: the
observation and the noise (drawn outside the graph from the members' generators, so a
replay gives the eager rollout's numbers). The policy's parameters are updated in place by
the optimiser and read by the graph where they lie; the env's state tensors are read and
written back in place. The rollout's buffers are the graph's: they hold until the next
rollout (PopulationPPO.learn uses them at once).

Opt-in (`enable(agent)`), CUDA only: engine.bench.gpu_check measures whether it pays and
checks it against the eager rollout. The env's step must not itself be a CUDA graph.
"""

from __future__ import annotations

from typing import Any

import torch

STATE = ("cash", "holdings", "ew", "t")


def enable(agent: Any) -> RolloutGraph:
    if agent.device.type != "cuda":
        raise ValueError("a rollout graph needs a CUDA device")
    graph = RolloutGraph(agent)
    agent.rollout_graph = graph
    return graph


class RolloutGraph:
    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager_rollouts = 0
        self.replays = 0
        self._obs: torch.Tensor | None = None
        self._noise: torch.Tensor | None = None
        self._state: list[torch.Tensor] = []
        self._params: list[int] = []
        self._out: Any = None
        self._last_reward: torch.Tensor | None = None
        self._env = 0

    def _eager(self, env: Any, obs: torch.Tensor, noise: torch.Tensor
               ) -> tuple[Any, torch.Tensor]:
        self.eager_rollouts += 1
        ro, out = self.agent._rollout(env, obs, noise)
        return ro, out

    def collect(self, env: Any, obs: torch.Tensor, noise: torch.Tensor
                ) -> tuple[Any, torch.Tensor]:
        steps = self.agent.n_steps
        if env.steps_to_episode_end() <= steps or env.stepper.mode == "graph":
            return self._eager(env, obs, noise)
        if self.graph is None or not self._fits(env):
            if self.eager_rollouts == 0:   # warm kernels, allocator and compiled code first
                return self._eager(env, obs, noise)
            self._capture(env, obs, noise)
        assert self._obs is not None and self._noise is not None
        if obs.data_ptr() != self._obs.data_ptr():
            self._obs.copy_(obs)
        self._noise.copy_(noise)
        self._own_state(env)
        assert self.graph is not None
        self.graph.replay()
        env.advance_host_clock(steps)
        self.agent.env_steps += steps * self.agent.n_envs
        self.agent.last_reward = self._last_reward
        self.replays += 1
        return self._out, self._obs

    def _fits(self, env: Any) -> bool:
        params = [p.data_ptr() for p in self.agent.params]
        return id(env) == self._env and params == self._params and all(
            getattr(env, name).shape == s.shape for name, s in zip(STATE, self._state,
                                                                  strict=True))

    def _own_state(self, env: Any) -> None:
        """Point the env at the graph's state tensors (an eager rollout may have replaced
        them), copying the current state in."""
        for name, mine in zip(STATE, self._state, strict=True):
            cur = getattr(env, name)
            if cur.data_ptr() != mine.data_ptr():
                mine.copy_(cur)
                setattr(env, name, mine)

    def _capture(self, env: Any, obs: torch.Tensor, noise: torch.Tensor) -> None:
        agent = self.agent
        self._obs, self._noise = obs.clone(), noise.clone()
        self._state = [getattr(env, name).clone() for name in STATE]
        self._params = [p.data_ptr() for p in agent.params]
        self._env = id(env)
        for name, mine in zip(STATE, self._state, strict=True):
            setattr(env, name, mine)
        clock, env_steps = env.host_clock(), agent.env_steps
        graph = torch.cuda.CUDAGraph()
        torch.cuda.synchronize()
        with torch.cuda.graph(graph):
            ro, out_obs = agent._rollout(env, self._obs, self._noise)
            for name, mine in zip(STATE, self._state, strict=True):
                mine.copy_(getattr(env, name))   # the final state, back where the next reads
            self._obs.copy_(out_obs)
        for name, mine in zip(STATE, self._state, strict=True):
            setattr(env, name, mine)
        env.set_host_clock(clock)   # capturing ran the Python, not the rollout
        agent.env_steps = env_steps
        self._out, self._last_reward = ro, agent.last_reward
        self.graph = graph
