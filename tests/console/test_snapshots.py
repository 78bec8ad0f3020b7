"""SVG snapshots of every pane at 80x24 and 160x48, on frozen data and a frozen clock.

Refresh with `pytest tests/console/test_snapshots.py --snapshot-update` and review the SVGs.
"""

from __future__ import annotations

from typing import Any

import pytest

PANES = ("1", "2", "3", "4", "5", "6", "7", "8")  # Trials, GPU, Procs, ... Alerts, Trades
SIZES = ((80, 24), (160, 48))


def _show(pane: str) -> Any:
    """Load, switch to the pane, and wait for every worker (data, chart) to finish."""

    async def run_before(pilot: Any) -> None:
        for step in range(4):
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            if step == 0:
                await pilot.press(pane)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("pane", PANES)
def test_pane(snap_compare: Any, env: Any, pane: str, size: tuple[int, int]) -> None:
    assert snap_compare(env.app(), terminal_size=size, run_before=_show(pane))


def test_readonly_footer(snap_compare: Any, env: Any) -> None:
    assert snap_compare(env.app(readonly=True), terminal_size=(80, 24), run_before=_show("3"))
