"""PPO: GAE by hand, learning on a toy env, NaN detection, hooks and resumable state."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from engine.agent.hyperparams import Hyperparams
from engine.agent.ppo import PPO, NaNLossError, gae

_spec = importlib.util.spec_from_file_location("toy_env", Path(__file__).with_name("toy_env.py"))
toy_env = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(toy_env)  # type: ignore[union-attr]

HP = Hyperparams(lr=5e-3, n_envs=32, n_steps=16, epochs=4, minibatch=256, hidden=32,
                 total_steps=6_000, episode_len=16, ent_coef=0.0,
                 init_log_std=-0.5)  # the toy task needs exploration (trading: no-trade band)


def test_gae_by_hand() -> None:
    # one env, 2 steps, no terminal: gamma 0.5, lambda 0.5
    r = torch.tensor([[1.0], [2.0]])
    v = torch.tensor([[0.5], [1.0]])
    d = torch.zeros(2, 1)
    last = torch.tensor([2.0])
    adv, ret = gae(r, v, d, last, 0.5, 0.5)
    d1 = 2.0 + 0.5 * 2.0 - 1.0   # 2.0
    d0 = 1.0 + 0.5 * 1.0 - 0.5   # 1.0
    assert adv[1, 0].item() == pytest.approx(d1)
    assert adv[0, 0].item() == pytest.approx(d0 + 0.25 * d1)
    assert torch.allclose(ret, adv + v)
    # a terminal after step 0 cuts the bootstrap
    d[0, 0] = 1.0
    adv2, _ = gae(r, v, d, last, 0.5, 0.5)
    assert adv2[0, 0].item() == pytest.approx(1.0 - 0.5)


def test_ppo_learns_the_toy_task() -> None:
    torch.manual_seed(0)
    env = toy_env.ToyEnv(n_envs=HP.n_envs, episode_len=HP.episode_len, seed=0)
    agent = PPO(env.obs_dim, env.act_dim, HP, seed=0)
    probe = torch.randn((256, env.obs_dim), generator=torch.Generator().manual_seed(5))
    target = torch.tanh(probe @ env.w)
    before = (agent.act(probe) - target).pow(2).sum(-1).mean().item()
    obs = env.reset()
    for _ in range(agent.n_updates(HP.total_steps, env.n_envs)):
        obs, stats = agent.learn(env, obs)
    after = (agent.act(probe) - target).pow(2).sum(-1).mean().item()
    assert after < 0.5 * before, (before, after)
    assert agent.act(probe).abs().max() <= 1.0  # deterministic actions in [-1, 1]
    assert torch.equal(agent.act(probe), agent.act(probe))
    assert set(stats) >= {"pg_loss", "v_loss", "entropy", "approx_kl", "clipfrac", "grad_norm"}


def test_nan_loss_raises_a_clear_error() -> None:
    env = toy_env.ToyEnv(n_envs=4)
    agent = PPO(env.obs_dim, env.act_dim, Hyperparams(n_envs=4, n_steps=8, minibatch=16), seed=0)
    obs = env.reset()
    ro, obs = agent.collect(env, obs)
    with torch.no_grad():
        agent.critic.net[0].weight.fill_(float("nan"))
    with pytest.raises(NaNLossError, match="loss is nan"):
        agent.update(ro)


def test_hooks_run_inside_the_training_step_and_can_raise_oom() -> None:
    env = toy_env.ToyEnv(n_envs=4)
    agent = PPO(env.obs_dim, env.act_dim, Hyperparams(n_envs=4, n_steps=8, minibatch=16), seed=0)
    seen: list[tuple[str, int]] = []

    def hook(stage: str, update: int) -> None:
        seen.append((stage, update))
        if update == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (test)")

    agent.hooks.append(hook)
    obs = env.reset()
    obs, _ = agent.learn(env, obs)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        agent.learn(env, obs)
    assert ("minibatch", 0) in seen and ("minibatch", 1) in seen


def test_state_dict_resumes_training_exactly() -> None:
    hp = Hyperparams(n_envs=4, n_steps=8, minibatch=16, hidden=16)

    def run(split_at: int | None) -> torch.Tensor:
        env = toy_env.ToyEnv(n_envs=4, seed=2)
        agent = PPO(env.obs_dim, env.act_dim, hp, seed=1)
        obs = env.reset()
        for i in range(4):
            if i == split_at:
                state = agent.state_dict()
                agent = PPO(env.obs_dim, env.act_dim, hp, seed=99)
                agent.load_state_dict(state)
            obs, _ = agent.learn(env, obs)
        return torch.cat([p.detach().flatten() for p in agent.actor.parameters()])

    assert torch.equal(run(None), run(2))


@pytest.mark.parametrize("hold", [1, 4])
def test_exploration_noise_is_held_for_noise_hold_steps(hold: int) -> None:
    hp = HP.with_(n_envs=4, n_steps=8, noise_hold=hold)
    env = toy_env.ToyEnv(n_envs=hp.n_envs, episode_len=16, seed=0)
    agent = PPO(env.obs_dim, env.act_dim, hp, seed=0)
    ro, _ = agent.collect(env, env.reset())
    std = agent.actor.log_std.exp()
    noise = (ro.actions - agent.act(ro.obs.reshape(-1, env.obs_dim)).reshape(ro.actions.shape)) / std
    for t in range(1, hp.n_steps):
        same = torch.allclose(noise[t], noise[t - 1], atol=1e-5)
        assert same == (t % hold != 0), (t, hold)   # a fresh draw every `hold` steps only
    # the log-probability is the per-step Gaussian's, whatever the hold
    dist = torch.distributions.Normal(agent.act(ro.obs[3]), std)
    assert torch.allclose(ro.logprobs[3], dist.log_prob(ro.actions[3]).sum(-1), atol=1e-5)
