"""Rolling, annualised Sharpe ratios of an equity series at several end times (numpy).

Returns are taken between consecutive equity points; a window ending at `e` holds the
returns whose both points lie in [e - window, e]. Annualisation uses the median spacing of
the points (crypto trades every day: 365 days a year).
"""

from __future__ import annotations

import numpy as np

from engine.study.metrics import SECONDS_PER_YEAR


def periods_per_year(at: np.ndarray) -> float:
    if len(at) < 2:
        return 0.0
    dt = float(np.median(np.diff(at)))
    return SECONDS_PER_YEAR / dt if dt > 0 else 0.0


def rolling_sharpe(at: np.ndarray, equity: np.ndarray, ends: np.ndarray,
                   window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Sharpe and number of returns in the window ending at each of `ends`.

    O(n + len(ends)) through cumulative sums; a flat window has Sharpe 0.
    """
    ends = np.asarray(ends, dtype=float)
    if len(at) < 2:
        return np.zeros(len(ends)), np.zeros(len(ends), dtype=int)
    prev = equity[:-1]
    r = np.where(prev > 0, equity[1:] / np.where(prev > 0, prev, 1.0) - 1.0, 0.0)
    cs = np.concatenate(([0.0], np.cumsum(r)))
    cs2 = np.concatenate(([0.0], np.cumsum(r * r)))
    lo = np.searchsorted(at, ends - window_s, side="left")
    hi = np.searchsorted(at, ends, side="right")
    n = np.maximum(hi - lo - 1, 0)
    last = np.maximum(hi - 1, lo)  # returns j in [lo, hi-1)
    s = cs[last] - cs[lo]
    s2 = cs2[last] - cs2[lo]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, s / np.maximum(n, 1), 0.0)
        var = np.where(n > 1, (s2 - n * mean * mean) / np.maximum(n - 1, 1), 0.0)
        std = np.sqrt(np.maximum(var, 0.0))
        sharpe = np.where(std > 1e-12, mean / std, 0.0) * np.sqrt(periods_per_year(at))
    return sharpe, n


def sharpe_of(at: np.ndarray, equity: np.ndarray) -> tuple[float, int]:
    """Annualised Sharpe of a whole series (promotion gates)."""
    if len(at) < 2:
        return 0.0, 0
    s, n = rolling_sharpe(at, equity, np.array([at[-1]]), float(at[-1] - at[0]))
    return float(s[0]), int(n[0])


def window_returns(at: np.ndarray, equity: np.ndarray, end: float,
                   window_s: float) -> np.ndarray:
    """The returns rolling_sharpe uses for the window ending at `end` (both points inside)."""
    lo = int(np.searchsorted(at, end - window_s, side="left"))
    hi = int(np.searchsorted(at, end, side="right"))
    e = equity[lo:hi]
    if e.size < 2:
        return np.zeros(0)
    prev = e[:-1]
    return np.where(prev > 0, e[1:] / np.where(prev > 0, prev, 1.0) - 1.0, 0.0)
