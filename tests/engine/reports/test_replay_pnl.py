"""Per-factor PnL of what the conviction filter blocked against what it passed, by hand."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from engine.reports.replay_pnl import decision_pnl, factor_pnl

NAMES = ("size", "momentum", "agreement", "volatility", "context")
W = (0.3, 0.2, 0.2, 0.15, 0.15)


@dataclass(frozen=True)
class Rec:
    side: str
    bar: int
    column: int
    value: float
    score: float
    threshold: float
    factors: tuple[float, float, float, float, float]
    passed: bool
    reason: str = ""


def rec(side: str, bar: int, factors: tuple[float, ...], threshold: float = 0.6) -> Rec:
    score = sum(w * f for w, f in zip(W, factors, strict=True))
    return Rec(side, bar, 0, 100.0, score, threshold, factors,  # type: ignore[arg-type]
               score >= threshold)


def test_decision_pnl_net_of_a_round_trip() -> None:
    assert decision_pnl("BUY", 100.0, 10.0, 11.0, 0.005) == pytest.approx(10.0 - 1.0)
    assert decision_pnl("SELL", 100.0, 10.0, 11.0, 0.005) == pytest.approx(-10.0 - 1.0)
    assert decision_pnl("SELL", 100.0, 10.0, 9.0, 0.0) == pytest.approx(10.0)


def test_each_factor_is_credited_with_what_it_tipped() -> None:
    close = np.array([[10.0], [10.0], [12.0], [12.0], [9.0], [9.0]])
    # bar 0 buy: momentum 0 leaves the score at .55 < .6 (neutral: .65) -> momentum blocked it;
    #   the price then rose 20 %: blocking it cost 20 - 1 = 19 of PnL.
    a = rec("BUY", 0, (1.0, 0.0, 0.5, 1.0, 0.0))
    # bar 2 buy: .675; momentum at neutral: .575 -> momentum passed it (so did size: .525);
    #   then -25 %.
    b = rec("BUY", 2, (1.0, 1.0, 0.5, 0.5, 0.0))
    # bar 3 buy far above the line: no single factor decided it.
    c = rec("BUY", 3, (1.0, 1.0, 1.0, 1.0, 1.0))
    assert not a.passed and b.passed and c.passed
    out = factor_pnl([a, b, c], close, NAMES, W, horizon=2, cost=0.005, last_bar=5)
    assert (out["momentum"].blocked, out["momentum"].passed) == (1, 1)
    assert out["momentum"].blocked_pnl == pytest.approx(100 * 0.2 - 1.0)
    assert out["momentum"].passed_pnl == pytest.approx(100 * (9 / 12 - 1) - 1.0)
    assert (out["size"].blocked, out["size"].passed) == (0, 1)
    assert (out["context"].blocked, out["context"].passed) == (1, 0)  # .625 at neutral
    assert out["filter"].blocked == 1 and out["filter"].passed == 2
    assert out["filter"].passed_pnl == pytest.approx(out["momentum"].passed_pnl
                                                     + 100 * (9 / 12 - 1) - 1.0)
    released = Rec("SELL", 0, 0, 100.0, 0.1, 0.3, (0.0,) * 5, True, "exit released")
    assert factor_pnl([released], close, NAMES, W, 2, 0.0, 5)["size"].passed == 0
