"""Log each distinct error once: a loop that must survive errors still says what they are.

A bare `suppress(Exception)` hides a heartbeat that fails forever (it looks like a hang);
logging every failure floods the log. `OnceLog.error()` logs the first occurrence of each
distinct (type, message) with its count so far, and every later one only at powers of ten.
`OnceFilter` applies the same rule to a logger whose retry loop we do not own (the trader's):
a record that carries an exception among its arguments is such a failure.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

MAX_KEYS = 1000  # distinct errors remembered; past that the counts start again


def _text(e: BaseException) -> str:
    text = str(e)
    if e.__cause__ is not None:  # wrappers (Optuna's StorageInternalError) hide the why
        text += f" (from {type(e.__cause__).__name__}: {e.__cause__})"
    return " ".join(text.split())[:300]


class OnceLog:
    def __init__(self, logger: logging.Logger | str, what: str) -> None:
        self.log = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.what = what
        self.seen: dict[tuple[str, ...], int] = {}

    def count(self, key: tuple[str, ...]) -> int | None:
        """Count one more `key`; its count when it is to be logged (1, 10, 100, ...), else None."""
        if key not in self.seen and len(self.seen) >= MAX_KEYS:
            self.seen.clear()
        n = self.seen.get(key, 0) + 1
        self.seen[key] = n
        return n if n == 1 or (n >= 10 and str(n).strip("0") == "1") else None

    def error(self, e: BaseException, about: str = "") -> bool:
        """Count e; log it if it is the first of its kind (or the 10th, 100th, ...).

        `about` (which trial, which row) is logged with it but does not make it distinct.
        Returns whether this occurrence was logged.
        """
        key = (type(e).__name__, _text(e))
        n = self.count(key)
        if n is None:
            return False
        self.log.warning("%s%s failed (%s: %s)%s", self.what, f" ({about})" if about else "",
                         key[0], key[1], "" if n == 1 else f" [{n} times so far]")
        return True

    @contextmanager
    def logged(self, about: str = "") -> Iterator[None]:
        """Run the block; an Exception from it is counted and logged here, not raised.

        For best-effort work whose failure must not stop the caller, in place of a silent
        `contextlib.suppress(Exception)`.
        """
        try:
            yield
        except Exception as e:  # the caller chose to carry on; the error is still said
            self.error(e, about)


class OnceFilter(logging.Filter):
    """OnceLog's rule as a filter: of the records that carry an exception, the first of each
    distinct (message, error type, error text) passes, later ones only at powers of ten with
    "[N times so far]"; records without an exception always pass."""

    def __init__(self) -> None:
        super().__init__()
        self.once = OnceLog(logging.getLogger(__name__), "")

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        e = next((a for a in args if isinstance(a, BaseException)), None)
        if e is None:
            return True
        n = self.once.count((str(record.msg), type(e).__name__, _text(e)))
        if n is None:
            return False
        if n > 1:
            record.msg = f"{record.msg} [{n} times so far]"
        return True
