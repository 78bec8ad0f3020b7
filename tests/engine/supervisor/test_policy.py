"""Restart policy: pure decisions, checked against the config that drives them."""

from __future__ import annotations

import pytest

from engine.supervisor.policy import backoff_delay, decide, start_due


@pytest.fixture
def sup(make_config):
    return make_config("[supervisor]\nbackoff_initial_s = 2\nbackoff_factor = 1.5\n"
                       "backoff_max_s = 5\nstable_uptime_s = 60\nmax_quick_restarts = 4\n"
                       ).supervisor


def test_backoff_grows_by_factor_and_is_capped(sup) -> None:
    assert [backoff_delay(sup, n) for n in range(5)] == [2.0, 2.0, 3.0, 4.5, 5.0]


def test_daemon_restarts_on_any_exit_even_zero(sup) -> None:
    for code in (0, 1, -9, None):
        d = decide(sup, "trader", code, uptime_s=1.0, quick_restarts=0)
        assert d.state == "BACKOFF" and d.quick_restarts == 1


def test_unknown_kind_is_treated_as_a_daemon(sup) -> None:
    assert decide(sup, "something-new", 0, 1.0, 0).state == "BACKOFF"


def test_job_restarts_only_on_failure(sup) -> None:
    assert decide(sup, "study", 0, 1.0, 2).state == "EXITED"
    assert decide(sup, "study", None, 1.0, 0).state == "EXITED"  # adopted, status unknown
    failed = decide(sup, "study", 1, 1.0, 0)
    assert failed.state == "BACKOFF" and failed.delay_s == 2.0
    assert decide(sup, "exec-job", -11, 1.0, 0).state == "BACKOFF"


def test_quick_exits_go_fatal_after_the_limit(sup) -> None:
    quick = 0
    states = []
    for _ in range(4):
        d = decide(sup, "monitor", 1, uptime_s=0.5, quick_restarts=quick)
        quick = d.quick_restarts
        states.append((d.state, d.delay_s))
    assert states == [("BACKOFF", 2.0), ("BACKOFF", 3.0), ("BACKOFF", 4.5), ("FATAL", 0.0)]


def test_a_stable_run_resets_the_quick_count(sup) -> None:
    d = decide(sup, "trader", 1, uptime_s=61.0, quick_restarts=3)
    assert d.state == "BACKOFF" and d.quick_restarts == 0 and d.delay_s == 2.0


def test_a_backoff_start_is_due_at_its_time_or_when_the_clock_stepped_back(sup) -> None:
    # backoff_max_s bounds every wait: a longer one is a wall clock that stepped back
    assert start_due(sup, None, 100.0) and start_due(sup, 100.0, 100.0)
    assert not start_due(sup, 100.0 + sup.backoff_max_s, 100.0)
    assert start_due(sup, 100.0 + 3600, 100.0)
