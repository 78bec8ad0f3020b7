"""A population member trains the same agent as the per-trial path (TrialRunner) would.

What this proves: for K = 8 members (2 configurations differing in every plain-number
hyperparameter × 2 seeds × 2 CPCV splits) trained at once, each member's actor weights and
split score equal, within float tolerance, those of TrialRunner(cfg, data, hp, seed).run()
for that configuration, seed and split; so each also equals its K = 1 population. The
configurations are far enough apart that their results differ by much more than the
tolerance (the comparison could fail).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.agent.hyperparams import Hyperparams
from engine.population.members import Member, PopulationRunner, buckets
from engine.study.objective import FINAL, Hooks, TrialRunner


class KeepAgents(Hooks):
    """Keeps each split's trained actor weights (TrialRunner drops the agent per split)."""

    def __init__(self) -> None:
        self.actors: list[dict[str, torch.Tensor]] = []

    def on_update(self, runner: TrialRunner) -> None:
        if runner.global_updates % runner.updates_per_split == 0:  # a split's last update
            assert runner.agent is not None
            self.actors.append({k: v.clone() for k, v in runner.agent.actor.state_dict().items()})


def serial(cfg, data, hp: Hyperparams, seed: int):  # type: ignore[no-untyped-def]
    keep = KeepAgents()
    return TrialRunner(cfg, data, hp, seed=seed, hooks=keep).run(), keep.actors


def configs(base: Hyperparams) -> list[Hyperparams]:
    return [base, base.with_(lr=1e-3, gamma=0.95, gae_lambda=0.9, clip=0.1, ent_coef=0.01,
                             vf_coef=0.8, max_grad_norm=1.0, init_log_std=-1.0)]


def test_each_member_equals_its_per_trial_run(tiny) -> None:  # type: ignore[no-untyped-def]
    cfg, data = tiny
    hps = configs(Hyperparams.from_config(cfg.ppo))
    trials = [(hp, seed) for hp in hps for seed in (3, 11)]
    members = [Member(j, hp, seed, i) for j, (hp, seed) in enumerate(trials) for i in range(2)]
    pop = PopulationRunner(cfg, data, members)
    assert pop.k == 8
    pop.train()
    scores = {}
    for j, (hp, seed) in enumerate(trials):
        metrics, actors = serial(cfg, data, hp, seed)
        for i in range(2):
            k = 2 * j + i
            got = pop.actor(k).state_dict()
            for name, want in actors[i].items():
                torch.testing.assert_close(got[name], want, rtol=1e-4, atol=1e-5,
                                           msg=f"member {k} {name}")
            s = pop.score(k)["score"]
            assert s == pytest.approx(metrics["split_scores"][i], rel=1e-3, abs=1e-3)
            scores[k] = s
    # The members really differ: configurations and seeds change the outcome.
    assert len({round(v, 2) for v in scores.values()}) >= 6


def test_population_of_one_equals_the_member_inside_a_population(tiny) -> None:  # type: ignore[no-untyped-def]
    cfg, data = tiny
    hps = configs(Hyperparams.from_config(cfg.ppo))
    members = [Member(j, hp, 5, 1) for j, hp in enumerate(hps)]
    both = PopulationRunner(cfg, data, members)
    both.train()
    alone = PopulationRunner(cfg, data, members[1:])
    alone.train()
    # Batched and single matmuls round differently (~1e-7); where a target lands on the
    # no-trade band's edge that can flip one trade and its reward, so allow a few 1e-6.
    for a, b in zip(both.actor(1).parameters(), alone.actor(0).parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=2e-5)
    w0 = both.actor(0).net[0].weight.detach().numpy()
    w1 = both.actor(1).net[0].weight.detach().numpy()
    assert np.abs(w0 - w1).max() > 1e-3


def test_shape_changing_hyperparameters_make_separate_buckets(tiny) -> None:  # type: ignore[no-untyped-def]
    cfg, data = tiny
    base = Hyperparams.from_config(cfg.ppo)
    members = [Member(0, base, 1, 0), Member(1, base.with_(lr=1e-3), 1, 0),
               Member(2, base.with_(hidden=32), 1, 0), Member(3, base.with_(n_steps=64), 1, 0)]
    groups = buckets(members)
    assert sorted(len(g) for g in groups) == [1, 1, 2]
    with pytest.raises(ValueError, match="bucket"):
        PopulationRunner(cfg, data, members)


def test_a_member_with_a_nan_loss_is_frozen_and_the_others_learn(tiny) -> None:  # type: ignore[no-untyped-def]
    cfg, data = tiny
    base = Hyperparams.from_config(cfg.ppo)
    pop = PopulationRunner(cfg, data, [Member(0, base, 1, 0), Member(1, base, 2, 0)])
    with torch.no_grad():
        pop.agent.policy.actor.weights[0][0].fill_(float("nan"))
    before = pop.agent.policy.critic.weights[0][0].clone()
    other = pop.agent.policy.critic.weights[0][1].clone()
    pop.train()
    assert pop.agent.failed.tolist() == [True, False]
    torch.testing.assert_close(pop.agent.policy.critic.weights[0][0], before)
    assert not torch.equal(pop.agent.policy.critic.weights[0][1], other)
    assert torch.isfinite(pop.agent.policy.critic.weights[0][1]).all()


def test_seed_members_equal_the_per_trial_seeds(tiny) -> None:  # type: ignore[no-untyped-def]
    cfg, data = tiny
    cfg = cfg.model_copy(update={"study": cfg.study.model_copy(update={"seeds": 2})})
    hp = Hyperparams.from_config(cfg.ppo)
    members = [Member(0, hp, 7, i, k, 2) for i in range(2) for k in range(2)]
    members.append(Member(0, hp, 7, FINAL, 0, 2, final_unit=4))  # the refit on all CV bars
    pop = PopulationRunner(cfg, data, members)
    pop.train()
    metrics, actors = serial(cfg, data, hp, 7)  # units: (split, seed) in order, then the refit
    assert len(actors) == 5
    for k, m in enumerate(members):
        assert m.unit_i == k
        for name, want in actors[k].items():
            torch.testing.assert_close(pop.actor(k).state_dict()[name], want, rtol=1e-4,
                                       atol=1e-5, msg=f"member {k} {name}")
        if m.split_i != FINAL:
            assert pop.score(k)["score"] == pytest.approx(metrics["split_scores"][k],
                                                          rel=1e-3, abs=1e-3)


def test_batched_rng_trains_every_member_and_is_repeatable(tiny) -> None:  # type: ignore[no-untyped-def]
    cfg, data = tiny
    base = Hyperparams.from_config(cfg.ppo)
    members = [Member(j, base, j, 0) for j in range(3)]
    runs = []
    for _ in range(2):
        pop = PopulationRunner(cfg, data, members, batched_rng=True)
        before = pop.agent.policy.actor.weights[0].detach().clone()
        pop.train()
        after = pop.agent.policy.actor.weights[0].detach()
        assert torch.isfinite(after).all()
        assert all(not torch.equal(after[k], before[k]) for k in range(3))
        runs.append(after.clone())
    torch.testing.assert_close(runs[0], runs[1])
    exact = PopulationRunner(cfg, data, members)   # per-member generators: other numbers
    exact.train()
    assert not torch.allclose(exact.agent.policy.actor.weights[0].detach(), runs[0])


class Stop(Exception):
    pass


def test_a_resumed_member_equals_the_per_trial_path_resumed_at_the_same_update(tiny) -> None:  # type: ignore[no-untyped-def]
    """Checkpoint at update 2 of split 0, resume in a new runner: the same agent as
    TrialRunner checkpointed and resumed at global update 2 (both reseed the env there)."""
    cfg, data = tiny
    hp = Hyperparams.from_config(cfg.ppo).with_(lr=1e-3)
    saved: dict = {}

    class SaveAt2(Hooks):
        def on_update(self, runner: TrialRunner) -> None:
            if runner.global_updates == 2:
                saved.update(runner.state())
                raise Stop

    with pytest.raises(Stop):
        TrialRunner(cfg, data, hp, seed=4, hooks=SaveAt2()).run()
    keep = KeepAgents()
    serial_run = TrialRunner(cfg, data, hp, seed=4, hooks=keep)
    serial_run.restore(saved)
    serial_run.run()

    member = [Member(0, hp, 4, 0)]
    states: list = []

    def save_at_2(r: PopulationRunner) -> None:
        if r.agent.updates == 2:
            states.append(r.member_state(0))
            raise Stop

    with pytest.raises(Stop):
        PopulationRunner(cfg, data, member, on_update=save_at_2).train()
    resumed = PopulationRunner(cfg, data, member)
    resumed.load_member_state(0, states[0])
    resumed.train()
    got = resumed.actor(0).state_dict()
    for name, want in keep.actors[0].items():
        torch.testing.assert_close(got[name], want, rtol=1e-4, atol=1e-5, msg=name)
    uninterrupted = PopulationRunner(cfg, data, member)
    uninterrupted.train()   # the env is reseeded at a resume: a different agent
    assert not torch.allclose(uninterrupted.actor(0).net[0].weight, got["net.0.weight"])
