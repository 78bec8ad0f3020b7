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
