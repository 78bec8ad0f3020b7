"""Every hyperparameter the study samples reaches the agent.

For each sampled name: (1) the agent's recorded effective config shows the sampled value,
and (2) changing that one value alone changes what training does (the weights after one
short run differ), so no sampled value is silently ignored.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import optuna
import pytest
import torch

from engine.agent.hyperparams import SEARCH, Hyperparams, from_trial_params, sample
from engine.agent.ppo import PPO

_spec = importlib.util.spec_from_file_location("toy_env", Path(__file__).with_name("toy_env.py"))
toy_env = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(toy_env)  # type: ignore[union-attr]

# Chosen so every knob bites: big lr so ratios leave the clip range, tiny grad norm so
# clipping is active, several epochs and minibatches.
BASE = Hyperparams(lr=3e-3, gamma=0.9, gae_lambda=0.9, clip=0.15, n_envs=16, n_steps=32,
                   epochs=2, minibatch=256, ent_coef=1e-3, vf_coef=0.5, max_grad_norm=0.2,
                   hidden=32, init_log_std=-0.5, total_steps=1024, episode_len=16)

# A changed value per sampled hyperparameter (inside its search range).
CHANGED = {"lr": 1e-3, "gamma": 0.99, "gae_lambda": 0.97, "clip": 0.25, "n_steps": 64,
           "epochs": 3, "minibatch": 512, "ent_coef": 1e-2, "vf_coef": 1.0,
           "max_grad_norm": 0.5, "hidden": 64, "init_log_std": -2.0}


@functools.lru_cache(maxsize=2)
def train(hp: Hyperparams) -> tuple[PPO, torch.Tensor]:
    env = toy_env.ToyEnv(n_envs=hp.n_envs, episode_len=hp.episode_len, seed=1)
    agent = PPO(env.obs_dim, env.act_dim, hp, seed=3)
    obs = env.reset()
    for _ in range(agent.n_updates(hp.total_steps, env.n_envs)):
        obs, _ = agent.learn(env, obs)
    probe = torch.randn((32, env.obs_dim), generator=torch.Generator().manual_seed(9))
    return agent, agent.act(probe)


def test_changed_values_are_in_each_search_range() -> None:
    assert set(CHANGED) == set(SEARCH)
    for name, (kind, low, high, _log) in SEARCH.items():
        v = CHANGED[name]
        assert (v in low) if kind == "cat" else (low <= v <= high), name


@pytest.mark.parametrize("name", sorted(SEARCH))
def test_each_sampled_hyperparameter_changes_training(name: str) -> None:
    base_agent, base_out = train(BASE)
    hp = BASE.with_(**{name: CHANGED[name]})
    agent, out = train(hp)
    eff = agent.effective_config()
    assert eff[name] == CHANGED[name], f"{name} did not reach the agent: {eff[name]}"
    assert base_agent.effective_config()[name] == getattr(BASE, name)
    assert not torch.allclose(base_out, out), f"changing {name} alone changed nothing"


def test_sampled_trial_params_round_trip_into_hyperparams() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    trial = study.ask()
    hp = sample(trial, BASE)
    assert set(trial.params) == set(SEARCH)
    assert from_trial_params(trial.params, BASE) == hp
    for name, value in trial.params.items():
        assert getattr(hp, name) == value


def test_from_config_takes_every_shared_key(make_config) -> None:  # type: ignore[no-untyped-def]
    cfg = make_config("[ppo]\nlr = 0.001\nhidden = 32\nepisode_len = 99\n")
    hp = Hyperparams.from_config(cfg.ppo)
    assert (hp.lr, hp.hidden, hp.episode_len) == (0.001, 32, 99)
    with pytest.raises(ValueError, match="unknown"):
        Hyperparams.from_dict({"nope": 1})
