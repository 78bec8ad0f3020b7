"""How many trials a population holds, and how many envs each member runs, by device.

On CUDA both default to what fits in half the free memory (torch.cuda.mem_get_info): envs
per member are raised to at least CUDA_MIN_ENVS (a GPU is launch-bound below that), then
trials fill the budget. On CPU a population stays small (CPU_TRIALS): one thread is
compute-bound, so a population only saves per-call overhead there. The estimate counts
the rollout buffers, env state, parameters with their gradients and Adam moments, and a
minibatch's activations (an estimate, not yet checked against a GPU's measured peak).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.agent.hyperparams import Hyperparams

CPU_TRIALS = 2
CUDA_MIN_ENVS = 256
MAX_TRIALS = 4096
MEMORY_FRACTION = 0.5   # leave room for the allocator's fragmentation and other processes


@dataclass(frozen=True)
class Plan:
    trials: int        # trials per population
    n_envs: int        # envs per member
    member_bytes: int
    budget_bytes: int | None
    why: str


def member_bytes(hp: Hyperparams, obs_dim: int, act_dim: int) -> int:
    """Estimated device bytes of one member (float32 tensors, float64 env state)."""
    n, s, h = hp.n_envs, hp.n_steps, hp.hidden
    rollout = s * n * (obs_dim + act_dim + 6) * 4 * 2            # buffers + flattened copies
    env = n * (obs_dim * 4 + act_dim * 8 * 6 + 64)
    params = 2 * (obs_dim * h + h * h + h * (act_dim + 1) + 3 * h) + act_dim
    optim = params * 4 * 4                                         # weights, grads, m, v
    mb = min(hp.effective_minibatch, hp.batch)
    activations = mb * (obs_dim + act_dim + 4 * h) * 4 * 4          # forward + backward
    return int(rollout + env + optim + activations)


def plan(device: str, hp: Hyperparams, obs_dim: int, act_dim: int, members_per_trial: int,
         free_bytes: int | None = None) -> Plan:
    """The population size (trials) and envs per member for this device. members_per_trial:
    every member a trial trains at once (engine.population.members.members_per_trial: each
    split × seed, plus the final fit), not just its splits."""
    if not device.startswith("cuda"):
        return Plan(CPU_TRIALS, hp.n_envs, member_bytes(hp, obs_dim, act_dim), None,
                    f"CPU: {CPU_TRIALS} trials per population, "
                    f"{members_per_trial} members per trial")
    if free_bytes is None:
        import torch

        free_bytes, _total = torch.cuda.mem_get_info(device)
    budget = int(free_bytes * MEMORY_FRACTION)
    n_envs = max(hp.n_envs, CUDA_MIN_ENVS)
    sized = hp.with_(n_envs=n_envs)
    per = member_bytes(sized, obs_dim, act_dim)
    trials = max(1, min(MAX_TRIALS, budget // max(per * members_per_trial, 1)))
    return Plan(trials, n_envs, per, budget,
                f"{device}: {budget / 2**30:.1f} GiB budget, {per / 2**20:.1f} MiB per member, "
                f"{members_per_trial} members per trial")
