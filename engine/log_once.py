"""Log each distinct error once: a loop that must survive errors still says what they are.

A bare `suppress(Exception)` hides a heartbeat that fails forever (it looks like a hang);
logging every failure floods the log. `OnceLog.error()` logs the first occurrence of each
distinct (type, message) with its count so far, and every later one only at powers of ten.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class OnceLog:
    def __init__(self, logger: logging.Logger | str, what: str) -> None:
        self.log = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.what = what
        self.seen: dict[tuple[str, str], int] = {}

    def error(self, e: BaseException, about: str = "") -> bool:
        """Count e; log it if it is the first of its kind (or the 10th, 100th, ...).

        `about` (which trial, which row) is logged with it but does not make it distinct.
        Returns whether this occurrence was logged.
        """
        text = str(e)
        if e.__cause__ is not None:  # wrappers (Optuna's StorageInternalError) hide the why
            text += f" (from {type(e.__cause__).__name__}: {e.__cause__})"
        key = (type(e).__name__, " ".join(text.split())[:300])
        n = self.seen.get(key, 0) + 1
        self.seen[key] = n
        if n == 1 or (n >= 10 and str(n).strip("0") == "1"):  # 1, 10, 100, ...
            self.log.warning("%s%s failed (%s: %s)%s", self.what, f" ({about})" if about else "",
                             key[0], key[1], "" if n == 1 else f" [{n} times so far]")
            return True
        return False

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
