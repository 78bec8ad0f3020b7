"""The monitor's rolling Sharpe (engine.metrics): each window equals the direct formula."""

from __future__ import annotations

import numpy as np

from engine.metrics import (
    bar_seconds_of,
    periods_per_year,
    rolling_sharpe,
    series_sharpe,
    window_returns,
)


def _direct(eq: np.ndarray, ppy: float) -> float:
    r = eq[1:] / eq[:-1] - 1
    return float(r.mean() / r.std(ddof=1) * np.sqrt(ppy))


def test_rolling_matches_direct_computation_at_each_end() -> None:
    rng = np.random.default_rng(5)
    at = 1000.0 + 300.0 * np.arange(2000)
    eq = 1000 * np.cumprod(1 + rng.normal(2e-4, 1e-3, 2000))
    ppy = periods_per_year(bar_seconds_of(at))
    assert abs(ppy - 365 * 86400 / 300) < 1e-6
    ends = np.array([at[-1], at[-1] - 3600, at[1500]])
    window = 500 * 300.0
    s, n = rolling_sharpe(at, eq, ends, window)
    for e, got, count in zip(ends, s, n, strict=True):
        mask = (at >= e - window) & (at <= e)
        assert count == mask.sum() - 1
        assert abs(got - _direct(eq[mask], ppy)) < 1e-6
        assert len(window_returns(at, eq, e, window)) == count


def test_flat_and_empty_series_give_zero() -> None:
    at = np.arange(10, dtype=float)
    s, n = rolling_sharpe(at, np.full(10, 5.0), np.array([9.0]), 100.0)
    assert s[0] == 0.0 and n[0] == 9
    assert series_sharpe(np.empty(0), np.empty(0)) == (0.0, 0)
