"""Performance metrics of an equity curve, as reports show them."""

from __future__ import annotations

import math

import numpy as np

# One Sharpe for the whole project: the study's objective, reports and replay agree.
from engine.study.metrics import periods_per_year, sharpe
from engine.study.metrics import returns_from_equity as returns

__all__ = ["returns", "sharpe", "sharpe_se", "sortino", "drawdown", "max_drawdown",
           "bar_seconds_of", "daily_pnl"]


def annualisation(bar_seconds: float) -> float:
    return math.sqrt(periods_per_year(bar_seconds))


def sharpe_se(r: np.ndarray, bar_seconds: float) -> float:
    """Standard error of the annualised Sharpe (Lo 2002, i.i.d. returns):
    sqrt((1 + SR²/2) / n) per bar, annualised like the Sharpe; NaN under 2 returns."""
    r = np.asarray(r, dtype=float)
    r = r[np.isfinite(r)]
    if r.size < 2:
        return math.nan
    sd = float(r.std(ddof=1))
    per_bar = float(r.mean()) / sd if sd >= 1e-12 else 0.0
    return math.sqrt((1.0 + per_bar ** 2 / 2.0) / r.size) * annualisation(bar_seconds)


def daily_pnl(at: np.ndarray, equity: np.ndarray) -> list[tuple[float, float]]:
    """(UTC day start, that day's last equity minus the day before's), the first day against
    the first equity point: a one-day period still has its bar."""
    at, equity = np.asarray(at, dtype=float), np.asarray(equity, dtype=float)
    if at.size == 0:
        return []
    days = (at // 86_400.0).astype(np.int64)
    last = np.flatnonzero(np.append(days[1:] != days[:-1], True))
    closes = equity[last]
    before = np.concatenate(([equity[0]], closes[:-1]))
    return [(float(days[i]) * 86_400.0, float(c - b))
            for i, c, b in zip(last, closes, before, strict=True)]


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
