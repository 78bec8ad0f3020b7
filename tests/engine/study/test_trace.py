"""The trial objective (engine.study.trace.objective_of): mean − one honest standard error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.metrics import sharpe, sharpe_se
from engine.study.trace import Trace, objective_of

BAR_S = 300


def _trace(actives: list[list[np.ndarray]]) -> Trace:
    t = Trace()
    for i, seeds in enumerate(actives):
        n = seeds[0].size
        t.add_split(i, np.arange(i * n, (i + 1) * n), np.zeros((4, n)))
        for a in seeds:
            t.add_active(i, a)
    return t


def test_seeds_that_repeat_a_split_add_no_certainty() -> None:
    # Three seeds that learned the same policy score the same bars the same way: the
    # objective must be that of one seed. (Counting 3 x 3 units as independent cut the SE
    # by about half and raised the objective.)
    rng = np.random.default_rng(3)
    splits = [rng.normal(2e-5, 1e-3, 1500) for _ in range(3)]
    one = objective_of(_trace([[a] for a in splits]), BAR_S)
    three = objective_of(_trace([[a, a.copy(), a.copy()] for a in splits]), BAR_S)
    assert three == pytest.approx(one, abs=1e-12)
    scores = [sharpe(a, BAR_S) for a in splits]     # by hand: mean − sd / √3 of 3 splits
    assert one == pytest.approx(np.mean(scores) - np.std(scores, ddof=1) / math.sqrt(3))


def test_one_split_uses_the_standard_error_of_its_returns_not_of_its_seeds() -> None:
    rng = np.random.default_rng(4)
    a = rng.normal(3e-5, 1e-3, 2000)
    obj = objective_of(_trace([[a, a.copy(), a.copy()]]), BAR_S)
    assert obj == pytest.approx(sharpe(a, BAR_S) - sharpe_se(a, BAR_S))
    # seeds that disagree: the split's score is their mean, its SE that of the mean returns
    b = rng.normal(0.0, 1e-3, 2000)
    obj2 = objective_of(_trace([[a, b]]), BAR_S)
    m = (a + b) / 2
    assert obj2 == pytest.approx((sharpe(a, BAR_S) + sharpe(b, BAR_S)) / 2 - sharpe_se(m, BAR_S))
