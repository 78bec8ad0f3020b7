"""The supervisor's store trouble: one log line per kind of failure, at most once a minute.

A full disk or a store locked for too long must not flood the log with tracebacks every
poll: the supervisor keeps what it could not write and retries each tick.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable

from store.db import StoreError

STORE_TROUBLE = (StoreError, sqlite3.Error)  # a full, locked or read-only store
LOG_EVERY_S = 60.0


class TroubleLog:
    def __init__(self, log: logging.Logger, retry_s: float) -> None:
        self.log = log
        self.retry_s = retry_s
        self._last: dict[str, float] = {}  # what failed -> when it was last logged

    def failed(self, what: str, e: BaseException) -> None:
        t = time.monotonic()
        if t - self._last.get(what, -1e9) >= LOG_EVERY_S:
            self.log.error("%s (%s); retrying every %gs", what, " ".join(str(e).split()),
                           self.retry_s)
            self._last[what] = t

    def attempt(self, step: Callable[[], object]) -> bool:
        """Run one step of the loop; a store that refuses it is logged (False), the loop
        goes on."""
        try:
            step()
        except STORE_TROUBLE as e:
            self.failed(f"{getattr(step, '__name__', 'step').strip('_')}: store write failed", e)
            return False
        return True

    def recovered(self, what: str) -> None:
        if self._last.pop(what, None) is not None:
            self.log.info("%s: done now (the store takes writes again)", what)
