"""OnceLog: the first of each distinct error is logged, repeats only at powers of ten."""

from __future__ import annotations

import logging

import pytest

from engine.log_once import OnceLog


def test_each_distinct_error_is_logged_once_then_at_powers_of_ten(
        caplog: pytest.LogCaptureFixture) -> None:
    log = OnceLog("test.once", "heartbeat of trader-x")
    with caplog.at_level(logging.WARNING, logger="test.once"):
        for _ in range(120):
            log.error(OSError("database or disk is full"))
        log.error(ValueError("another"))
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "heartbeat of trader-x failed (OSError: database or disk is full)"
    assert [ln.endswith("[10 times so far]") for ln in lines[1:2]] == [True]
    assert lines[2].endswith("[100 times so far]")
    assert lines[3] == "heartbeat of trader-x failed (ValueError: another)"
    assert len(lines) == 4


def test_the_filter_passes_the_first_of_each_error_then_powers_of_ten(
        caplog: pytest.LogCaptureFixture) -> None:
    """As the trader's loop logs a retry: the bar and the wait change, the error does not."""
    from engine.log_once import OnceFilter

    logger = logging.getLogger("test.once.filter")
    flt = OnceFilter()
    logger.addFilter(flt)
    try:
        with caplog.at_level(logging.INFO, logger="test.once.filter"):
            full = OSError("sim: exchange file /x/sim-exchange.db: database or disk is full")
            for i in range(150):
                logger.warning("%s: bar %s failed (%s); retrying in %.0fs", "t", 300 * i, full,
                               2.0 ** min(i, 6))
                logger.warning("%s: clock/broker error: %s", "t", full)
            logger.warning("%s: clock/broker error: %s", "t", OSError("locked"))
            for _ in range(3):
                logger.info("%s: no more bars (replay data exhausted); idle", "t")
    finally:
        logger.removeFilter(flt)
    lines = [r.getMessage() for r in caplog.records]
    bar = [ln for ln in lines if "bar " in ln and "failed" in ln]
    assert bar == ["t: bar 0 failed (sim: exchange file /x/sim-exchange.db: database or disk "
                   "is full); retrying in 1s",
                   "t: bar 2700 failed (sim: exchange file /x/sim-exchange.db: database or "
                   "disk is full); retrying in 64s [10 times so far]",
                   "t: bar 29700 failed (sim: exchange file /x/sim-exchange.db: database or "
                   "disk is full); retrying in 64s [100 times so far]"]
    clock = [ln for ln in lines if "clock/broker" in ln]
    assert [c.rsplit(" [", 1)[-1] for c in clock[1:3]] == ["10 times so far]",
                                                           "100 times so far]"]
    assert clock[-1] == "t: clock/broker error: locked" and len(clock) == 4
    assert lines.count("t: no more bars (replay data exhausted); idle") == 3  # no error: all
