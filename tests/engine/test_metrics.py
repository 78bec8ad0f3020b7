"""engine.metrics: the one definition of each metric, checked against hand-worked values."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import numpy as np
import pytest

from engine.metrics import (
    MAKER_TARGET,
    bars_running_s,
    conviction_from_buckets,
    decision_stats,
    execution_from_buckets,
    fee_total,
    maker_ratio,
    maker_ratio_of,
    max_drawdown,
    monthly,
    rolling_sharpe,
    series_sharpe,
    sharpe,
    sharpe_se,
    sortino,
    trades_per_day,
)
from store.period import DecisionBucket, FillBucket
from store.trading import DecisionSpan, LiquidityCounts


def test_series_sharpe_agrees_with_the_monitors_rolling_sharpe_over_the_whole_series() -> None:
    rng = np.random.default_rng(3)
    at = np.arange(500, dtype=float) * 300.0
    equity = 1000.0 * np.cumprod(1.0 + rng.normal(2e-4, 3e-3, 500))
    mine, n = series_sharpe(at, equity)
    theirs, m = rolling_sharpe(at, equity, np.array([at[-1]]), float(at[-1] - at[0]))
    assert n == m[0] == 499 and mine == pytest.approx(float(theirs[0]), rel=1e-9)
    assert series_sharpe(at[:1], equity[:1]) == (0.0, 0)


def test_sharpe_standard_error_is_lo_2002() -> None:
    r = np.array([0.01, -0.005, 0.002, 0.004])
    per_bar = r.mean() / r.std(ddof=1)
    ann = math.sqrt(365 * 86400 / 300)
    assert sharpe(r, 300) == pytest.approx(per_bar * ann)
    assert sharpe_se(r, 300) == pytest.approx(math.sqrt((1 + per_bar ** 2 / 2) / 4) * ann)
    assert math.isnan(sharpe_se(r[:1], 300))


def test_sortino_and_drawdown_by_hand() -> None:
    r = np.array([0.02, -0.01, 0.03, -0.02])
    downside = math.sqrt((0.01 ** 2 + 0.02 ** 2) / 4)
    assert sortino(r, 86400) == pytest.approx(r.mean() / downside * math.sqrt(365))
    assert max_drawdown(np.array([100.0, 120.0, 90.0, 130.0])) == pytest.approx(0.25)


def test_trades_per_day_is_over_the_running_time() -> None:
    assert trades_per_day(12, 2 * 86400.0) == 6.0
    assert trades_per_day(3, 600.0, min_running_s=3600.0) == pytest.approx(72.0)
    assert trades_per_day(5, 0.0) == 0.0
    assert monthly(2.5) == 75.0


def test_maker_ratio_and_fee_total_are_exact() -> None:
    assert maker_ratio(7, 10) == 0.7 and maker_ratio(0, 0) is None
    assert 0 < MAKER_TARGET < 1
    assert fee_total(["0.1", "0.2", None, 0.3]) == Decimal("0.6")


def test_conviction_from_the_stores_day_buckets() -> None:
    t = 1_767_225_600.0
    days = [DecisionBucket(0, 24, 6, 24 * 0.5 + 6 * 0.3, t - 48 * 3600),
            DecisionBucket(1, 24, 6, 24 * 0.5 + 6 * 0.3, t - 24 * 3600)]
    s = conviction_from_buckets("a", days, t - 7 * 86400, t)
    assert (s.decisions, s.passed) == (48, 12)
    assert s.pass_rate == pytest.approx(0.25)
    assert s.avg_score == pytest.approx(0.5 + 0.3 * 12 / 48)
    assert s.trades_per_day == pytest.approx(6.0)  # two days of running, not the week
    assert s.projected_per_month == pytest.approx(180.0)
    empty = conviction_from_buckets("b", [], t - 86400, t)
    assert empty.pass_rate is None and empty.trades_per_day is None


def test_execution_from_the_stores_day_buckets() -> None:
    tier = json.dumps({"pricing_tier": "Intro 2", "maker_fee_rate": "0.004"})
    s = execution_from_buckets("a", [FillBucket(0, 6, 5, "0.60"), FillBucket(1, 4, 2, "0.40")],
                               tier, 0.0)
    assert (s.fills, s.maker_fills) == (10, 7)
    assert s.maker_ratio == pytest.approx(0.7)
    assert s.fees_paid == "1.00"
    assert s.fee_tier == {"pricing_tier": "Intro 2", "maker_fee_rate": "0.004"}
    assert execution_from_buckets("a", [], "not json", 0.0).fee_tier is None


def test_decision_stats_count_trades_over_the_bars_the_decisions_span() -> None:
    # One day of 5-minute bars seen as 289 bar times: they stand for 289 periods.
    span = DecisionSpan(decisions=289, passed=73, avg_score=0.55, first_bar_at=0.0,
                        last_bar_at=288 * 300.0, bars=289)
    assert bars_running_s(0.0, 288 * 300.0, 289) == pytest.approx(289 * 300.0)
    s = decision_stats(span)
    assert (s.decisions, s.passed) == (289, 73)
    assert s.pass_rate == pytest.approx(73 / 289)
    assert s.trades_per_day == pytest.approx(73 / (289 / 288))
    assert s.projected_trades_per_month == pytest.approx(s.trades_per_day * 30)
    assert s.avg_score == 0.55
    empty = decision_stats(DecisionSpan(0, 0, None, None, None, 0))
    assert (empty.pass_rate, empty.trades_per_day, empty.avg_score) == (0.0, 0.0, 0.0)
    one_bar = decision_stats(DecisionSpan(2, 2, 0.9, 600.0, 600.0, 1))
    assert one_bar.trades_per_day == 0.0  # one bar measures no time


def test_maker_ratio_of_the_stores_counts() -> None:
    assert maker_ratio_of(LiquidityCounts(maker_fills=3, fills=4)) == 0.75
    assert maker_ratio_of(LiquidityCounts(0, 0)) is None


def test_importing_the_metrics_leaves_numpy_unloaded() -> None:
    """The console imports engine.metrics at start-up (MAKER_TARGET, the activity stats);
    numpy loads only when a numeric metric is computed."""
    import subprocess
    import sys

    code = "import sys, engine.metrics; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "False"
