"""The Sharpe standard errors (engine.metrics) behind the monitor's z-scores, checked by
simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.metrics import lrv_ratio, newey_west_lags, sharpe, sharpe_gap_z, sharpe_se, sharpe_se_of

PPY = 365 * 86_400 / 300.0


def ar1(rng: np.random.Generator, shape: tuple[int, int], rho: float) -> np.ndarray:
    """AR(1) rows with Student-t(5) innovations, unit stationary variance."""
    e = rng.standard_t(5, shape) / math.sqrt(5 / 3)
    x = np.empty(shape)
    x[:, 0] = e[:, 0]
    a = math.sqrt(1 - rho * rho)
    for t in range(1, shape[1]):
        x[:, t] = rho * x[:, t - 1] + a * e[:, t]
    return x


def test_lag_rule_and_iid_ratio() -> None:
    assert newey_west_lags(100) == 4 and newey_west_lags(2016) == 7
    r = np.random.default_rng(0).normal(size=50_000)
    assert lrv_ratio(r) == pytest.approx(1.0, abs=0.05)
    assert lrv_ratio(np.full(10, 0.01)) == 1.0


def test_ratio_of_an_ar1_series_approaches_theory() -> None:
    rho = 0.3
    r = ar1(np.random.default_rng(1), (1, 200_000), rho)[0]
    assert lrv_ratio(r) == pytest.approx((1 + rho) / (1 - rho), rel=0.08)


def test_iid_se_matches_lo_2002() -> None:
    # Lo (2002) eq. 8: Var = (1 + SR^2/2) / n per bar; annualised by sqrt(ppy).
    sr = 0.05
    want = math.sqrt((1 + sr * sr / 2) / 1000) * math.sqrt(PPY)
    assert sharpe_se_of(sr * math.sqrt(PPY), 1000, PPY) == pytest.approx(want, rel=1e-12)
    assert sharpe_se_of(1.0, 1, PPY) == math.inf


@pytest.mark.parametrize("rho", [0.0, 0.2])
def test_se_is_calibrated_on_autocorrelated_fat_tailed_bars(rho: float) -> None:
    """The spread of 2000 simulated 2016-bar Sharpes matches the SE predicted from one
    series at a time (HAC corrected), and the z of two same-process samples is ~N(0, 1)."""
    rng = np.random.default_rng(7)
    n, k, sigma = 2016, 2000, 2e-3
    mu = 3.0 / math.sqrt(PPY) * sigma
    r = mu + sigma * ar1(rng, (k, n), rho)
    s = r.mean(1) / r.std(1, ddof=1) * math.sqrt(PPY)
    se = np.array([sharpe_se_of(si, n, PPY, lrv_ratio(ri)) for si, ri in zip(s, r, strict=True)])
    assert float(np.median(se)) == pytest.approx(float(s.std(ddof=1)), rel=0.1)
    half = k // 2
    z = np.array([sharpe_gap_z(s[i], n, s[half + i], n, PPY, lrv_ratio(r[i]))[0]
                  for i in range(half)])
    assert abs(z.std() - 1.0) < 0.1
    assert np.mean(z < -3.0) < 0.01


def test_the_iid_standard_error_of_returns_is_the_same_formula() -> None:
    """sharpe_se of raw returns (reports, gates) is sharpe_se_of at lrv 1 (the monitor)."""
    r = np.random.default_rng(2).normal(1e-4, 2e-3, 700)
    assert sharpe_se(r, 300.0) == pytest.approx(sharpe_se_of(sharpe(r, 300.0), 700, PPY),
                                                rel=1e-12)
