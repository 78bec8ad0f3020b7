"""Small modules with one job (issue 16): none over 500 lines, the median near 80.

A module that grows past the limit is split by job, not given an exemption.
"""

from __future__ import annotations

import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "store", "console", "widgets")
MAX_LINES = 500
MEDIAN_CEILING = 110  # "near 80": a drift well above it means modules are merging jobs


def module_lines() -> dict[str, int]:
    return {p.relative_to(ROOT).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
            for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def test_no_module_is_over_the_limit() -> None:
    big = {name: n for name, n in module_lines().items() if n > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines (split them by job): {big}"


def test_the_median_module_stays_small() -> None:
    lines = [n for n in module_lines().values() if n > 0]
    assert statistics.median(lines) <= MEDIAN_CEILING
