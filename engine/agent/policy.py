"""A numpy copy of the actor's deterministic policy for one-row-at-a-time backtests.

Backtests call the policy once per bar with a single observation; torch's per-call
overhead then dominates. The same tanh MLP in numpy float32 gives the same actions
(tests compare it with Actor.mean) several times faster.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from engine.model.network import Actor


def numpy_policy(actor: Actor) -> Callable[[np.ndarray], np.ndarray]:
    """obs (B, obs_dim) float32 -> actions (B, act_dim) in [-1, 1] (tanh of the MLP)."""
    linears = [m for m in actor.net if isinstance(m, torch.nn.Linear)]
    weights = [(m.weight.detach().cpu().numpy().T.astype(np.float32).copy(),
                m.bias.detach().cpu().numpy().astype(np.float32).copy()) for m in linears]
    last = len(weights) - 1

    def act(obs: np.ndarray) -> np.ndarray:
        h = np.asarray(obs, dtype=np.float32)
        for i, (w, b) in enumerate(weights):
            h = h @ w + b
            h = np.tanh(h)  # hidden layers use tanh; the mean is tanh-squashed too
            if i == last:
                break
        return h

    return act
