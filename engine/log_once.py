"""Log each distinct error once: a loop that must survive errors still says what they are.

A bare `suppress(Exception)` hides a heartbeat that fails forever (it looks like a hang);
logging every failure floods the log. `OnceLog.error()` logs the first occurrence of each
distinct (type, message) with its count so far, and every later one only at powers of ten.
"""

from __future__ import annotations

import logging


class OnceLog:
    def __init__(self, logger: logging.Logger | str, what: str) -> None:
        self.log = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.what = what
        self.seen: dict[tuple[str, str], int] = {}

    def error(self, e: BaseException) -> None:
        key = (type(e).__name__, " ".join(str(e).split())[:200])
        n = self.seen.get(key, 0) + 1
        self.seen[key] = n
        if n == 1 or (n >= 10 and str(n).strip("0") == "1"):  # 1, 10, 100, ...
            self.log.warning("%s failed (%s: %s)%s", self.what, key[0], key[1],
                             "" if n == 1 else f" [{n} times so far]")
