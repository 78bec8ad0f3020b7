"""Sharpe, CPCV and PBO against values worked out by hand on small inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.metrics import sharpe, sharpe_of_equity
from engine.study.cpcv import cpcv_splits, group_bounds
from engine.study.pbo import pbo


def test_sharpe_by_hand_for_5m_bars() -> None:
    r = np.array([0.01, -0.02, 0.03, 0.00])
    # mean 0.005; deviations .005 -.025 .025 -.005 -> sum of squares 0.0013; ddof=1 -> /3
    # 5-minute bars: 365*24*12 = 105,120 bars a year
    expected = 0.005 / math.sqrt(0.0013 / 3) * math.sqrt(105_120)
    assert sharpe(r, 300) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(77.876, abs=1e-3)


def test_sharpe_scales_with_bar_period() -> None:
    r = np.array([0.01, -0.02, 0.03, 0.00])
    # daily bars: 365 a year; hourly: 8760
    assert sharpe(r, 86_400) == pytest.approx(0.005 / math.sqrt(0.0013 / 3) * math.sqrt(365))
    assert sharpe(r, 3600) / sharpe(r, 86_400) == pytest.approx(math.sqrt(24))


def test_sharpe_degenerate_inputs_are_zero() -> None:
    assert sharpe(np.array([]), 300) == 0.0
    assert sharpe(np.array([0.01]), 300) == 0.0
    assert sharpe(np.full(10, 0.001), 300) == 0.0  # no variance
    with pytest.raises(ValueError):
        sharpe(np.array([0.1, 0.2]), 0)


def test_sharpe_of_equity_uses_simple_returns() -> None:
    eq = np.array([100.0, 110.0, 99.0, 108.9])  # +10%, -10%, +10%
    r = np.array([0.1, -0.1, 0.1])
    assert sharpe_of_equity(eq, 86_400) == pytest.approx(sharpe(r, 86_400))


def test_cpcv_groups_and_splits_by_hand() -> None:
    assert group_bounds(12, 4) == [(0, 3), (3, 6), (6, 9), (9, 12)]
    splits = cpcv_splits(12, 4, 1, embargo=1, purge=1)
    assert [s.test_groups for s in splits] == [(0,), (1,), (2,), (3,)]
    assert splits[0].test == ((0, 3),) and splits[0].train == ((4, 12),)
    assert splits[1].test == ((3, 6),) and splits[1].train == ((0, 2), (7, 12))
    assert splits[3].test == ((9, 12),) and splits[3].train == ((0, 8),)
    two = cpcv_splits(12, 4, 2, embargo=1, purge=1)
    assert len(two) == 6  # C(4, 2)
    s12 = next(s for s in two if s.test_groups == (1, 2))
    assert s12.test == ((3, 9),) and s12.train == ((0, 2), (10, 12))
    s03 = next(s for s in two if s.test_groups == (0, 3))
    assert s03.test == ((0, 3), (9, 12)) and s03.train == ((4, 8),)


@pytest.mark.parametrize(("n", "groups", "k", "embargo", "purge"),
                         [(1000, 6, 2, 48, 0), (997, 5, 1, 30, 7), (500, 8, 3, 0, 0)])
def test_cpcv_no_training_bar_inside_a_test_block_or_its_embargo(n, groups, k, embargo, purge):
    splits = cpcv_splits(n, groups, k, embargo=embargo, purge=purge, offset=100)
    assert len(splits) == math.comb(groups, k)
    for s in splits:
        train = {t for a, b in s.train for t in range(a, b)}
        test = {t for a, b in s.test for t in range(a, b)}
        assert train and test and not train & test
        assert train | test <= set(range(100, 100 + n))
        for a, b in s.test:
            assert not train & set(range(b, b + embargo)), "training bar inside the embargo"
            assert not train & set(range(a - purge, a)), "training bar inside the purge"
        # everything not banned is used for training
        banned = set()
        for a, b in s.test:
            banned |= set(range(a - purge, b + embargo))
        assert train == set(range(100, 100 + n)) - banned


def test_pbo_by_hand_overfit_and_robust() -> None:
    # The in-sample winner is the out-of-sample loser in both halves: PBO = 1.
    overfit = pbo(np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]))
    assert overfit is not None
    # IS winner ranks 1 of 3 OOS: w = 1/4, logit = ln(1/3)
    assert overfit.logits == pytest.approx((math.log(1 / 3), math.log(1 / 3)))
    assert overfit.pbo == 1.0 and overfit.n_combinations == 2
    # The same trial is best in and out of sample: rank 3 -> w = 3/4, logit = ln 3: PBO = 0.
    robust = pbo(np.array([[1.0, 1.0], [0.0, 0.0], [0.5, 0.5]]))
    assert robust is not None
    assert robust.logits == pytest.approx((math.log(3), math.log(3)))
    assert robust.pbo == 0.0


def test_pbo_four_blocks_by_hand() -> None:
    # 2 trials, 4 blocks: C(4, 2) = 6 in-sample choices.
    m = np.array([[3.0, 0.0, 0.0, 0.0],
                  [1.0, 1.0, 1.0, 1.0]])
    res = pbo(m)
    assert res is not None and res.n_combinations == 6
    # IS sets containing block 0 (3 of 6): trial 0 wins IS (mean 1.5 > 1) and loses OOS (0 < 1):
    #   rank 1 of 2 -> w = 1/3, logit ln(1/2) < 0.
    # The other 3: trial 1 wins IS and OOS means are 1 (t1) vs 1.5 (t0): rank 1 -> logit < 0.
    assert res.pbo == 1.0
    assert all(lg == pytest.approx(math.log(0.5)) for lg in res.logits)


def test_pbo_needs_two_trials_and_two_blocks() -> None:
    assert pbo(np.array([[1.0, 2.0]])) is None
    assert pbo(np.array([[1.0], [2.0]])) is None
    three = pbo(np.array([[1.0, 0.0, 5.0], [0.0, 1.0, 5.0]]))  # odd: last block unused
    assert three is not None and three.n_combinations == 2
