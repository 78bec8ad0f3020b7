"""Performance metrics of an equity curve, as reports show them."""

from __future__ import annotations

import math

import numpy as np

# One Sharpe for the whole project: the study's objective, reports and replay agree.
from engine.study.metrics import periods_per_year, sharpe
from engine.study.metrics import returns_from_equity as returns

__all__ = ["returns", "sharpe", "sortino", "drawdown", "max_drawdown", "bar_seconds_of"]


def annualisation(bar_seconds: float) -> float:
    return math.sqrt(periods_per_year(bar_seconds))


def sortino(r: np.ndarray, bar_seconds: float) -> float:
    """Mean over downside deviation (root mean square of negative returns), annualised."""
    if r.size < 2:
        return 0.0
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    return 0.0 if downside == 0 else float(np.mean(r)) / downside * annualisation(bar_seconds)


def drawdown(equity: np.ndarray) -> np.ndarray:
    e = np.asarray(equity, dtype=float)
    if e.size == 0:
        return e
    return e / np.maximum.accumulate(e) - 1.0


def max_drawdown(equity: np.ndarray) -> float:
    """The deepest fall from a running peak, as a positive fraction."""
    dd = drawdown(equity)
    return 0.0 if dd.size == 0 else float(-dd.min())


def bar_seconds_of(times: np.ndarray, default: float = 300.0) -> float:
    t = np.asarray(times, dtype=float)
    if t.size < 2:
        return default
    diffs = np.diff(t)
    diffs = diffs[diffs > 0]
    return float(np.median(diffs)) if diffs.size else default
