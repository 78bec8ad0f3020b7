"""The population env: per-member segments and episode starts, no device read-back per step.

Host reads are counted as aten::_local_scalar_dense / aten::nonzero ops (what `.item()`,
`bool(tensor)` and boolean indexing dispatch): on CUDA each is a synchronisation.
"""

from __future__ import annotations

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from engine.agent.hyperparams import Hyperparams
from engine.population.env import PopulationVecEnv
from engine.population.ppo import PopulationPPO
from engine.study.objective import SegmentEnv

READS = ("aten::_local_scalar_dense", "aten::nonzero")


def reads(fn) -> int:  # type: ignore[no-untyped-def]
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(1 for e in prof.events() if e.name in READS)


def make(data, cfg, episode: int = 64):  # type: ignore[no-untyped-def]
    segs = [((100, 900),), ((1200, 2400),)]
    return PopulationVecEnv(data.prices, data.features, data.spec, cfg.env, 8, "cpu",
                            [episode, episode // 2], [4, 9], segs), segs


def test_members_start_like_a_segment_env_inside_their_own_segments(tiny) -> None:  # type: ignore[no-untyped-def]
    cfg, data = tiny
    env, segs = make(data, cfg)
    env.reset()
    t = env.t.view(2, 8)
    assert ((t[0] >= 100) & (t[0] < 900 - 64)).all()
    assert ((t[1] >= 1200) & (t[1] < 2400 - 32)).all()
    alone = SegmentEnv(data.prices, data.features, data.spec, cfg.env, 8, "cpu", 32, 9, segs[1])
    alone.reset()
    assert torch.equal(t[1], alone.t)
    for _ in range(32):   # member 1 resets after 32 steps, member 0 goes on
        env.step(torch.zeros(16, env.act_dim))
        alone.step(torch.zeros(8, env.act_dim))
    assert torch.equal(env.t.view(2, 8)[1], alone.t)
    assert (env.steps.view(2, 8)[0] == 32).all() and (env.steps.view(2, 8)[1] == 0).all()


def test_no_host_read_in_a_step_or_a_rollout_without_resets(tiny) -> None:  # type: ignore[no-untyped-def]
    cfg, data = tiny
    env, _ = make(data, cfg, episode=200)
    obs = env.reset()
    act = torch.zeros(16, env.act_dim)
    assert reads(lambda: env.step(act)) == 0
    alone = SegmentEnv(data.prices, data.features, data.spec, cfg.env, 8, "cpu", 200, 9,
                       ((1200, 2400),))
    alone.reset()
    # The per-trial env counts its steps on the host too (it used to read done.any() back).
    assert reads(lambda: alone.step(torch.zeros(8, env.act_dim))) == 0
    agent = PopulationPPO(env.obs_dim, env.act_dim, [Hyperparams(n_envs=8, n_steps=16)] * 2,
                          [1, 2])
    assert reads(lambda: agent.collect(env, obs)) == 0


def test_the_host_clock_counts_steps_and_refuses_to_skip_an_episode_end(tiny) -> None:  # type: ignore[no-untyped-def]
    cfg, data = tiny
    env, _ = make(data, cfg)   # episodes of 64 and 32 steps
    env.reset()
    for _ in range(5):
        env.step(torch.zeros(16, env.act_dim))
    assert env.steps_to_episode_end() == 27 and env.host_clock() == [5, 5]
    env.advance_host_clock(26)   # what a replayed rollout graph reports
    assert env.host_clock() == [31, 31]
    with pytest.raises(ValueError, match="would cross an episode end"):
        env.advance_host_clock(1)
    env.set_host_clock([0, 0])
    assert torch.equal(env.steps, torch.zeros(16, dtype=torch.long))


def test_a_rollout_graph_needs_cuda(tiny) -> None:  # type: ignore[no-untyped-def]
    from engine.population.rollout_graph import enable

    agent = PopulationPPO(10, 3, [Hyperparams(n_envs=8, n_steps=16)] * 2, [1, 2])
    with pytest.raises(ValueError, match="needs a CUDA device"):
        enable(agent)
    assert agent.rollout_graph is None
