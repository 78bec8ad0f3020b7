"""Probability of backtest overfitting (Bailey, Borwein, López de Prado, Zhu 2015): CSCV.

`pbo` takes a performance matrix, one row per trial (strategy configuration), one column
per evaluation block. The columns are cut
into S groups (S even); for each choice of S/2 groups as in-sample, the trial that is
best in-sample is ranked out-of-sample; w = rank / (n_trials + 1), logit = ln(w / (1 - w)).
PBO is the share of combinations whose logit is <= 0 (the IS winner is at or below the
OOS median).

`pbo_returns` is what a study uses: the paper's own input, a T × N matrix of per-bar
out-of-sample returns (here the trials' active returns over the CPCV test bars), with
S = 16 row blocks and the Sharpe ratio as the performance measure.
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


def pbo_returns(returns: np.ndarray, n_blocks: int = 16,
                metric: str = "sharpe") -> PBOResult | None:
    """PBO by CSCV on a (T bars, N trials) matrix of out-of-sample returns.

    The T rows are cut into n_blocks contiguous blocks (S, even); each of the C(S, S/2)
    choices of S/2 blocks is the in-sample set, the rest out-of-sample. The performance of a
    trial on a set is its Sharpe ratio over the set's bars (metric "sharpe", the measure of
    Bailey et al. 2015) or its mean return ("mean", as `pbo`). NaN cells are bars a trial
    was not evaluated on (a pruned trial's later splits): a trial needs two bars in the
    in-sample set to be picked and two out-of-sample to be ranked; the logit uses the
    number of trials ranked. Computed from per-block sums, so S = 16 (12,870 combinations)
    costs milliseconds. None when fewer than 2 trials or fewer than n_blocks bars.
    """
    m = np.asarray(returns, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] < 2 or n_blocks < 2 or n_blocks % 2 or m.shape[0] < n_blocks:
        return None
    ok = np.isfinite(m)
    x = np.where(ok, m, 0.0)
    blocks = np.array_split(np.arange(m.shape[0]), n_blocks)
    cnt = np.stack([ok[b].sum(axis=0) for b in blocks]).astype(np.float64)  # (S, N)
    s1 = np.stack([x[b].sum(axis=0) for b in blocks])
    s2 = np.stack([(x[b] ** 2).sum(axis=0) for b in blocks])
    combos = list(combinations(range(n_blocks), n_blocks // 2))
    sel = np.zeros((len(combos), n_blocks))
    for i, c in enumerate(combos):
        sel[i, list(c)] = 1.0

    def perf(w: np.ndarray) -> np.ndarray:  # (combos, N); NaN where < 2 bars
        n, a, q = w @ cnt, w @ s1, w @ s2
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = a / n
            if metric == "mean":
                out = mean
            else:
                var = (q - a * a / n) / (n - 1)
                sd = np.sqrt(np.maximum(var, 0.0))
                out = np.where(sd > 1e-15, mean / np.where(sd > 1e-15, sd, 1.0), 0.0)
        return np.where(n >= 2, out, np.nan)

    is_perf, oos_perf = perf(sel), perf(1.0 - sel)
    rows = np.arange(len(combos))
    picked = np.isfinite(is_perf).any(axis=1)
    best = np.where(np.isfinite(is_perf), is_perf, -np.inf).argmax(axis=1)
    ob = oos_perf[rows, best]
    ranked = np.isfinite(oos_perf)
    n_ranked = ranked.sum(axis=1)
    below = ((oos_perf < ob[:, None]) & ranked).sum(axis=1)
    equal = ((oos_perf == ob[:, None]) & ranked).sum(axis=1)
    keep = picked & np.isfinite(ob) & (n_ranked >= 2)
    if not keep.any():
        return None
    # rank 1 = worst OOS; ties share the average rank
    w = (below[keep] + (equal[keep] + 1) / 2) / (n_ranked[keep] + 1)
    logits = np.log(w / (1 - w))
    return PBOResult(float(np.mean(logits <= 0)), tuple(float(x) for x in logits),
                     int(m.shape[1]), int(keep.sum()))
