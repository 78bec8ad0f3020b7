"""Two sim traders on one store, one of them SIGKILLed again and again (real processes):
every fill of each trader is in the store and equals its own exchange file.
`cappuccino soak --kill-rounds 40` runs the issue's full count."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.soak.fills import run_fill_kills

ROUNDS = int(os.environ.get("CAPPUCCINO_TEST_KILL_ROUNDS", "10"))


@pytest.mark.slow
def test_two_sim_traders_one_killed_keep_every_fill(tmp_path: Path) -> None:
    findings, fills = run_fill_kills(tmp_path, ROUNDS)
    assert findings == []
    assert fills >= 2  # each trader's exchange made fills (a finding otherwise)
