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
    # One-row calls (every bar of a backtest) reuse these layer outputs: allocating them
    # costs more than the arithmetic at this size. The last layer's result is always fresh.
    row_layers = [(w, b, np.empty((1, w.shape[1]), dtype=np.float32)) for w, b in weights]
    matmul, add, tanh = np.matmul, np.add, np.tanh

    def act(obs: np.ndarray) -> np.ndarray:
        h = np.asarray(obs, dtype=np.float32)
        if h.ndim == 2 and h.shape[0] == 1:
            for w, b, buf in row_layers:
                h = tanh(add(matmul(h, w, out=buf), b, out=buf), out=buf)
            return h.copy()
        for w, b in weights:
            h = np.tanh(h @ w + b)  # hidden layers use tanh; the mean is tanh-squashed too
        return h

    return act
