"""Population size by device: small on CPU, what fits half the free memory on CUDA."""

from __future__ import annotations

from engine.agent.hyperparams import Hyperparams
from engine.population.members import members_per_trial, trial_members
from engine.population.sizing import CPU_TRIALS, CUDA_MIN_ENVS, member_bytes, plan


def test_cpu_keeps_a_small_population_and_the_configured_envs() -> None:
    p = plan("cpu", Hyperparams(n_envs=64), obs_dim=100, act_dim=7,
             members_per_trial=3)
    assert (p.trials, p.n_envs) == (CPU_TRIALS, 64)


def test_cuda_fills_half_the_free_memory() -> None:
    hp = Hyperparams(n_envs=64)
    small = plan("cuda:0", hp, 100, 7, 3, free_bytes=2 * 2**30)
    big = plan("cuda:0", hp, 100, 7, 3, free_bytes=64 * 2**30)
    assert small.n_envs == big.n_envs == CUDA_MIN_ENVS
    per_trial = 3 * member_bytes(hp.with_(n_envs=CUDA_MIN_ENVS), 100, 7)
    assert small.trials * per_trial <= 2**30 < (small.trials + 1) * per_trial
    assert big.trials * per_trial <= 32 * 2**30 < (big.trials + 1) * per_trial
    assert plan("cuda:0", hp, 100, 7, 3, free_bytes=1).trials == 1   # never zero


def test_member_bytes_grows_with_envs_steps_and_width() -> None:
    base = member_bytes(Hyperparams(), 100, 7)
    assert member_bytes(Hyperparams(n_envs=128), 100, 7) > 1.3 * base
    assert member_bytes(Hyperparams(n_steps=128), 100, 7) > 1.3 * base
    assert member_bytes(Hyperparams(hidden=256), 100, 7) > base


def test_a_trial_is_sized_by_every_member_it_trains() -> None:
    """A trial trains each (split, seed) and its final fit at once: 3 splits x 3 seeds + 1 =
    10 members, not 3. Sizing by splits alone put 3.3x the budget on the GPU."""
    hp = Hyperparams(n_envs=64)
    per_trial = members_per_trial(n_splits=3, n_seeds=3)
    assert per_trial == len(trial_members(7, hp, 3, 3)) == 10
    assert members_per_trial(2, 1) == 3
    p = plan("cuda:0", hp, 100, 7, per_trial, free_bytes=16 * 2**30)
    member = member_bytes(hp.with_(n_envs=CUDA_MIN_ENVS), 100, 7)
    assert p.trials * per_trial * member <= 8 * 2**30 < (p.trials + 1) * per_trial * member
    assert "10 members per trial" in p.why
