"""Deflated Sharpe ratio, PSR, block bootstrap and the PBO on a bars × trials matrix, by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.study.pbo import pbo, pbo_returns
from engine.study.stats import (
    bar_sharpe,
    bootstrap_sharpe_ci,
    deflated_sharpe,
    expected_max_sharpe,
    mean_minus_se,
    moments,
    probabilistic_sharpe,
)


def test_dsr_reproduces_the_papers_numerical_example() -> None:
    # Bailey & López de Prado (2014), section 4: annualised SR 2.5 over 5 years of daily
    # returns (T = 1250), N = 100 trials whose annualised SRs have variance 1/2, skew -3,
    # kurtosis 10: SR0 = 0.1132 per day and DSR = 0.9004.
    sr, var = 2.5 / math.sqrt(250), 0.5 / 250
    sr0 = expected_max_sharpe(100, var)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    assert probabilistic_sharpe(sr, sr0, 1250, -3.0, 10.0) == pytest.approx(0.9004, abs=5e-4)


def test_dsr_of_a_small_series_by_hand() -> None:
    r = np.array([0.02, -0.01, 0.03, 0.00, 0.01, -0.02, 0.04, 0.01])
    # by hand: mean 0.01, sample sd sqrt(0.0028/7) = 0.02, so SR = 0.5 per bar
    assert bar_sharpe(r) == pytest.approx(0.5)
    skew, kurt = moments(r)
    d = r - 0.01
    m2 = (d ** 2).mean()
    assert skew == pytest.approx((d ** 3).mean() / m2 ** 1.5)
    assert kurt == pytest.approx((d ** 4).mean() / m2 ** 2)
    # N = 10 trials whose per-bar Sharpes have sample variance 0.04:
    # SR0 = sd(SRs) * (0.4228 * z(0.9) + 0.5772 * z(1 - 1/(10 e)))
    srs = np.array([0.5, 0.3, 0.1, -0.1, 0.2, 0.0, 0.4, -0.2, 0.1, 0.3])
    v = float(np.var(srs, ddof=1))
    z1, z2 = 1.2815516, 1.7892418  # Φ⁻¹(0.9), Φ⁻¹(1 − 1/(10e)) = Φ⁻¹(0.963212)
    sr0 = math.sqrt(v) * ((1 - 0.5772157) * z1 + 0.5772157 * z2)
    res = deflated_sharpe(r, 10, srs)
    assert res.sr0 == pytest.approx(sr0, rel=1e-6)
    z = (0.5 - sr0) * math.sqrt(7) / math.sqrt(1 - skew * 0.5 + (kurt - 1) / 4 * 0.25)
    assert res.dsr == pytest.approx(0.5 * (1 + math.erf(z / math.sqrt(2))), rel=1e-6)
    assert res.n_trials == 10 and res.bars == 8


def test_more_trials_deflate_more_and_one_trial_is_the_psr_at_zero() -> None:
    rng = np.random.default_rng(3)
    r = rng.normal(0.0005, 0.01, 2000)
    one = deflated_sharpe(r, 1)
    assert one.sr0 == 0.0
    assert one.dsr == pytest.approx(probabilistic_sharpe(one.sharpe, 0.0, 2000, one.skew,
                                                         one.kurtosis))
    many = [deflated_sharpe(r, n).dsr for n in (2, 10, 100, 1000)]
    assert all(a > b for a, b in zip(many, many[1:], strict=False))


def test_block_bootstrap_interval_covers_the_sharpe_and_is_seeded() -> None:
    rng = np.random.default_rng(5)
    r = rng.normal(0.001, 0.01, 3000)
    lo, hi = bootstrap_sharpe_ci(r, 86_400)
    full = bar_sharpe(r) * math.sqrt(365)
    assert lo < full < hi
    # the width is about 2 × 1.96 standard errors (Lo 2002): sqrt(365 / 3000) ≈ 0.35
    assert 0.9 < (hi - lo) / (2 * 1.96 * math.sqrt(365 / 3000)) < 1.15
    assert (lo, hi) == bootstrap_sharpe_ci(r, 86_400)
    assert bootstrap_sharpe_ci(r[:3], 86_400) == (0.0, 0.0)


def test_mean_minus_one_standard_error() -> None:
    assert mean_minus_se([1.0, 2.0, 3.0]) == pytest.approx(2.0 - 1.0 / math.sqrt(3))
    assert mean_minus_se([2.0], fallback_se=0.5) == 1.5
    assert mean_minus_se([]) == 0.0


def test_pbo_on_a_returns_matrix_by_hand() -> None:
    # 4 bars × 3 trials, S = 2 blocks of 2 bars, mean as the measure:
    # block means A (1, -1), B (0, 0.5), C (-1, 1). IS block 0 picks A, OOS rank 1 of 3;
    # IS block 1 picks C, OOS rank 1 of 3: both logits ln(0.25/0.75) <= 0, PBO = 1.
    m = np.array([[1, 0, -1], [1, 0, -1], [-1, 0.5, 1], [-1, 0.5, 1]], dtype=float)
    res = pbo_returns(m, 2, metric="mean")
    assert res is not None and res.pbo == 1.0
    assert res.logits == pytest.approx((math.log(1 / 3), math.log(1 / 3)))
    # B made robust (best in both halves): it wins IS and stays top OOS, rank 3 of 3
    m[:, 1] = [2, 2, 2, 2]
    res = pbo_returns(m, 2, metric="mean")
    assert res is not None and res.pbo == 0.0 and res.logits == pytest.approx((math.log(3),) * 2)


def test_pbo_returns_agrees_with_the_split_matrix_version() -> None:
    rng = np.random.default_rng(11)
    m = rng.normal(0, 1, (160, 7))
    a = pbo_returns(m, 16, metric="mean")
    b = pbo(m.T, 16)
    assert a is not None and b is not None
    assert a.n_combinations == b.n_combinations == math.comb(16, 8)
    assert a.pbo == pytest.approx(b.pbo) and a.logits == pytest.approx(b.logits)


def test_pbo_sharpe_by_blocks_and_missing_bars() -> None:
    rng = np.random.default_rng(2)
    m = rng.normal(0, 1, (64, 5))
    res = pbo_returns(m, 4)
    # brute force: Sharpe over the chosen blocks' bars
    from itertools import combinations
    blocks = np.array_split(np.arange(64), 4)
    logits = []
    for c in combinations(range(4), 2):
        i = np.concatenate([blocks[g] for g in c])
        o = np.concatenate([blocks[g] for g in range(4) if g not in c])
        sh = lambda x: x.mean(axis=0) / x.std(axis=0, ddof=1)  # noqa: E731
        best = int(np.argmax(sh(m[i])))
        oos = sh(m[o])
        w = ((oos < oos[best]).sum() + 1) / 6
        logits.append(math.log(w / (1 - w)))
    assert res is not None and res.logits == pytest.approx(tuple(logits))
    # a pruned trial (no bars in the second half) is ranked only where it has bars
    m[32:, 4] = np.nan
    res2 = pbo_returns(m, 4)
    assert res2 is not None and res2.n_combinations == 6
    assert pbo_returns(m[:, :1], 4) is None and pbo_returns(m[:3], 4) is None
