"""Probability of backtest overfitting (Bailey, Borwein, López de Prado, Zhu 2015): CSCV.

Input: a performance matrix, one row per trial (strategy configuration), one column per
evaluation block (here: the CPCV splits every trial was scored on). The columns are cut
into S groups (S even); for each choice of S/2 groups as in-sample, the trial that is
best in-sample is ranked out-of-sample; w = rank / (n_trials + 1), logit = ln(w / (1 - w)).
PBO is the share of combinations whose logit is <= 0 (the IS winner is at or below the
OOS median).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np


@dataclass(frozen=True)
class PBOResult:
    pbo: float
    logits: tuple[float, ...]
    n_trials: int
    n_combinations: int


def pbo(perf: np.ndarray, n_groups: int | None = None) -> PBOResult | None:
    """PBO of a (trials, blocks) matrix; None when there are < 2 trials or < 2 blocks."""
    m = np.asarray(perf, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] < 2 or m.shape[1] < 2:
        return None
    n_trials, n_cols = m.shape
    s = n_groups or (n_cols if n_cols % 2 == 0 else n_cols - 1)
    s = min(s, n_cols - (n_cols % 2))
    if s < 2 or s % 2:
        return None
    groups = np.array_split(np.arange(n_cols), s)
    logits = []
    for is_groups in combinations(range(s), s // 2):
        is_cols = np.concatenate([groups[g] for g in is_groups])
        oos_cols = np.concatenate([groups[g] for g in range(s) if g not in is_groups])
        is_perf = m[:, is_cols].mean(axis=1)
        oos_perf = m[:, oos_cols].mean(axis=1)
        best = int(np.argmax(is_perf))
        # rank 1 = worst OOS; ties share the average rank
        below = float((oos_perf < oos_perf[best]).sum())
        equal = float((oos_perf == oos_perf[best]).sum())
        rank = below + (equal + 1) / 2
        w = rank / (n_trials + 1)
        logits.append(math.log(w / (1 - w)))
    value = float(np.mean([lg <= 0 for lg in logits]))
    return PBOResult(value, tuple(logits), n_trials, len(logits))
