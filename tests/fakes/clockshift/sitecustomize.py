"""A stepped wall clock for real Python processes (libfaketime's job, in Python).

Put this folder first on a child's PYTHONPATH and name a file in CLOCK_SHIFT_FILE: the
child's time.time() is then the real clock plus the seconds the file holds, read at every
call, so a test steps it (NTP, a resumed VM, `date -s`) while the process runs. The monotonic
clock is left alone, as on a real step. Without CLOCK_SHIFT_FILE nothing changes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ENV = "CLOCK_SHIFT_FILE"


def install(path: str) -> None:
    real = time.time

    def shifted() -> float:
        try:
            return real() + float(Path(path).read_text() or 0)
        except (OSError, ValueError):
            return real()

    time.time = shifted


if os.environ.get(ENV):
    install(os.environ[ENV])
