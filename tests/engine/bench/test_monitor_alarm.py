"""The monitor's calibration, simulated through the real monitor cycle and store."""

from __future__ import annotations

from pathlib import Path

from engine.bench.monitor_alarm import simulate, wilson


def test_false_alarms_within_48h_are_rare_and_the_old_rule_was_not(tmp_path: Path) -> None:
    r = simulate(tmp_path, 150, drop=0.0, seed=3)
    lo, _ = wilson(r.hits, r.n)
    assert lo <= 0.05 and r.rate <= 0.07, r       # the bench's full size must be <= 0.05
    assert r.old_rate > 0.4, r                    # the audit found 69 %


def test_a_large_real_drop_is_detected(tmp_path: Path) -> None:
    # Two days of 5-minute bars put the gap's standard error near 11: 60 points is z ~ -5.
    r = simulate(tmp_path, 60, drop=60.0, seed=4)
    assert r.rate >= 0.9, r


def test_wilson_interval() -> None:
    lo, hi = wilson(5, 100)
    assert round(lo, 4) == 0.0215 and round(hi, 4) == 0.1118
