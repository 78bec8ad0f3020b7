"""Conviction factors on hand-computed cases, and the rule that exits are never trapped."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.config.schema import ConvictionSection
from engine.trading.conviction import (
    ConvictionFilter,
    bar_factors,
    context_factor,
    momentum_factor,
    trend_tstats,
    volatility_factor,
)


def test_momentum_factor_hand_computed() -> None:
    # returns 1%, 3%: mean 2%, sample std 1.41421%, t = 2/1.41421*sqrt(2) = 2.0
    assert momentum_factor([0.01, 0.03]) == pytest.approx(0.5 * (1 + math.tanh(1.0)))
    assert momentum_factor([-0.01, -0.03]) == pytest.approx(0.5 * (1 - math.tanh(1.0)))
    assert momentum_factor([]) == 0.5 and momentum_factor([0.02, 0.02]) == 0.5


def test_volatility_factor_regimes() -> None:
    calm = 100 * np.cumprod(np.r_[1.0, np.tile([1.01, 0.99], 20)])
    assert volatility_factor(calm, 4, 40) == pytest.approx(1.0, abs=0.02)
    # the last 4 returns are 4x the size of the rest: ratio well above 1, factor low
    spike = np.r_[calm, calm[-1] * np.cumprod([1.08, 0.92, 1.08, 0.92])]
    f = volatility_factor(spike, 4, 40)
    r = np.diff(np.log(spike))[-40:]
    expected = min(1.0, max(0.0, 1.5 - 0.5 * r[-4:].std() / r.std()))
    assert f == pytest.approx(expected) and f < 0.5
    assert volatility_factor(np.full(50, 10.0), 4, 40) == 1.0  # flat: neutral-calm


def test_context_factor_hand_computed() -> None:
    # buy, market factor .4, a 10% position of a 20% max: (.4 + 1 - .5) / 2 = .45
    assert context_factor("BUY", 0.10, 0.40, 0.20) == pytest.approx(0.45)
    # sell of a position at 30% of equity with a 20% max, market .1: (.1 + (1 + 1) / 2) / 2
    assert context_factor("SELL", 0.30, 0.10, 0.20) == pytest.approx(0.55)
    # all cash gives no bonus: a buy from cash is judged by the market like any other
    assert context_factor("BUY", 0.0, 0.0, 0.20) == pytest.approx(0.5)


def test_score_is_the_weighted_sum() -> None:
    f = ConvictionFilter(ConvictionSection(min_score=0.6), max_position_pct=20)
    v = f.evaluate("BTC-USD", "BUY", 0.5, 0.8, 0.6, 1.0, 0.10, 0.40, False)
    expected = 0.30 * 0.5 + 0.20 * 0.6 + 0.20 * 0.8 + 0.15 * 1.0 + 0.15 * 0.45
    assert v.score == pytest.approx(expected)
    assert v.passed == (expected >= 0.6)
    low = f.evaluate("BTC-USD", "BUY", 0.05, 0.5, 0.5, 0.5, 0.1, 0.4, False)
    assert not low.passed and "<" in low.reason
    assert not f.evaluate("BTC-USD", "HOLD", 0.0, 1, 1, 1, 0, 1, False).passed


def test_exits_are_never_trapped() -> None:
    sec = ConvictionSection(min_score=0.99, exit_threshold_factor=0.5, exit_max_blocked=3)
    f = ConvictionFilter(sec, max_position_pct=20)
    # A weak sell (score well under 0.99 * 0.5) is blocked at most 3 times in a row.
    verdicts = [f.evaluate("ETH-USD", "SELL", -0.01, 0.0, 0.0, 0.0, 0.0, 1.0, True)
                for _ in range(8)]
    passed = [v.passed for v in verdicts]
    assert passed[:3] == [False, False, False] and passed[3] is True
    assert verdicts[3].reason == "exit released"
    assert max(len(run) for run in "".join("x" if not p else " " for p in passed).split()) <= 3
    # A sell at half the threshold passes at once.
    ok = f.evaluate("SOL-USD", "SELL", -1.0, 1.0, 0.5, 0.5, 0.3, 0.2, True)
    assert ok.passed and ok.score < 0.99


def test_disabled_filter_passes_trades() -> None:
    f = ConvictionFilter(ConvictionSection(enabled=False), max_position_pct=20)
    assert f.evaluate("BTC-USD", "BUY", 0.01, 0, 0, 0, 0, 1, False).passed


SEC = ConvictionSection(momentum_window=12, volatility_window=40, volatility_short_window=4)


def closes(drift: float, n: int = 60, a: int = 2) -> np.ndarray:
    wiggle = np.tile([1.002, 0.998], n // 2 + 1)[:n]
    return 100 * np.cumprod(np.outer(wiggle * (1 + drift), np.ones(a)), axis=0)


def test_momentum_is_the_price_agreeing_with_the_side() -> None:
    """A buy into a rising price scores high, a sell of it low (not the trader's equity)."""
    up = closes(0.003)
    t = trend_tstats(up, 12)
    r = np.diff(np.log(up[-13:, 0]))
    assert t[0] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(12))
    orders = np.array([1.0, -1.0])                     # buy ticker 0, sell ticker 1
    f = bar_factors(SEC, up, orders, orders[None, :], up[-1], 100.0)
    assert f.momentum[0] > 0.9 and f.momentum[1] < 0.1
    assert f.market[0] > 0.9 and f.market[1] < 0.1      # the whole market rises too
    down = bar_factors(SEC, closes(-0.003), orders, orders[None, :], up[-1], 100.0)
    assert down.momentum[0] < 0.1 and down.momentum[1] > 0.9


def test_agreement_needs_a_second_opinion() -> None:
    c = closes(0.0)
    orders = np.array([2.0, -1.0])
    one = bar_factors(SEC, c, orders, orders[None, :], c[-1], 100.0)
    assert list(one.agreement) == [0.5, 0.5]           # one model: neutral, never a free 1
    members = np.array([[1.0, -1.0], [3.0, 1.0], [-1.0, -2.0]])
    three = bar_factors(SEC, c, orders, members, c[-1], 100.0)
    np.testing.assert_allclose(three.agreement, [2 / 3, 2 / 3])
    assert list(one.size) == pytest.approx([1.0, c[-1, 1] / 100.0])  # value / unit, capped


def test_a_buy_from_cash_is_judged() -> None:
    """All in cash, the same modest buy passes in a rising market and not in a falling one."""
    f = ConvictionFilter(ConvictionSection(min_score=0.6), max_position_pct=35)
    verdicts = []
    for drift in (0.003, -0.003):
        c = closes(drift)
        fac = bar_factors(SEC, c, np.array([0.5, 0.0]), np.array([[0.5, 0.0]]), c[-1],
                          c[-1, 0])
        verdicts.append(f.evaluate("BTC-USD", "BUY", float(fac.size[0]),
                                   float(fac.agreement[0]), float(fac.momentum[0]),
                                   float(fac.volatility[0]), 0.0, float(fac.market[0]), False))
    assert verdicts[0].passed and not verdicts[1].passed
    assert verdicts[1].f_momentum < 0.1 and verdicts[1].f_context < 0.55
