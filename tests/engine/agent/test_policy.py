"""The numpy policy gives the actor's deterministic actions."""

from __future__ import annotations

import numpy as np
import torch

from engine.agent.policy import numpy_policy
from engine.model.network import Actor


def test_numpy_policy_matches_actor_mean() -> None:
    torch.manual_seed(0)
    actor = Actor(40, 5, 32)
    with torch.no_grad():  # move the last layer off its near-zero init so tanh saturates a bit
        actor.net[-1].weight.mul_(300.0)
    obs = np.random.default_rng(0).normal(size=(64, 40)).astype(np.float32)
    want = actor.mean(torch.from_numpy(obs)).detach().numpy()
    got = numpy_policy(actor)(obs)
    assert got.shape == (64, 5) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.abs(got).max() <= 1.0 and np.abs(got).max() > 0.5


def test_one_row_calls_equal_the_batch_and_return_fresh_arrays() -> None:
    torch.manual_seed(1)
    actor = Actor(12, 3, 16)
    with torch.no_grad():
        actor.net[-1].weight.mul_(100.0)
    policy = numpy_policy(actor)
    obs = np.random.default_rng(1).normal(size=(4, 12)).astype(np.float32)
    batch = policy(obs)
    rows = [policy(obs[i:i + 1]) for i in range(4)]   # one-row calls reuse their buffers
    for i, row in enumerate(rows):
        assert row.shape == (1, 3) and row.dtype == np.float32
        # One-row and batched matmuls may take different BLAS kernels (1 ulp apart); an
        # overwritten buffer would be off by far more than this tolerance.
        np.testing.assert_allclose(row[0], batch[i], rtol=1e-5, atol=1e-6)
    assert len({id(r) for r in rows}) == 4 and not np.array_equal(rows[0], rows[1])
