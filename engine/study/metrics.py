"""Sharpe ratio annualised for the bar period (crypto trades 365 days a year)."""

from __future__ import annotations

import math

import numpy as np

SECONDS_PER_YEAR = 365 * 24 * 3600


def periods_per_year(bar_seconds: float) -> float:
    if bar_seconds <= 0:
        raise ValueError(f"bar_seconds must be positive, got {bar_seconds}")
    return SECONDS_PER_YEAR / bar_seconds


def sharpe(returns: np.ndarray, bar_seconds: float) -> float:
    """mean / std (ddof=1) of per-bar simple returns × sqrt(bars per year); 0 when flat."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size < 2:
        return 0.0
    sd = float(r.std(ddof=1))
    if sd < 1e-12:
        return 0.0
    return float(r.mean()) / sd * math.sqrt(periods_per_year(bar_seconds))


def returns_from_equity(equity: np.ndarray) -> np.ndarray:
    e = np.asarray(equity, dtype=np.float64)
    return e[1:] / e[:-1] - 1.0 if e.size > 1 else np.zeros(0)


def sharpe_of_equity(equity: np.ndarray, bar_seconds: float) -> float:
    return sharpe(returns_from_equity(equity), bar_seconds)
