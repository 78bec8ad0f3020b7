"""A child process's wall clock stepped by a test: the shim in tests/fakes/clockshift reads the
seconds a file holds at every time.time() call (its docstring says how)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIM = ROOT / "tests" / "fakes" / "clockshift"


def clock_shift(tmp_path: Path, seconds: float = 0) -> tuple[Path, dict[str, str]]:
    """The shift file (holding `seconds`; write another number to step the clock) and the
    environment entries that make a child Python load the shim and read that file."""
    shift = tmp_path / "clock-shift"
    shift.write_text(str(seconds))
    return shift, {"CLOCK_SHIFT_FILE": str(shift),
                   "PYTHONPATH": os.pathsep.join([str(SHIM), str(ROOT)])}
