"""The Trades pane on the fixture store: round trips per trader, the `/` filter, the detail."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input, Static

from widgets.line_table import LineTable


async def settle(pilot: Any) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def test_round_trips_filter_and_detail(env: Any) -> None:
    app = env.app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("8")
        await settle(pilot)
        trips = app.query_one("#trips-table", LineTable)
        # The fixture: paper-1 sells 6 times (3 with coins bought before), paper-2 twice.
        traders = [trips.get_row(k)[1] for k in trips.row_keys]
        assert sorted(traders) == ["paper-1"] * 4 + ["paper-2"] * 2
        summary = str(app.query_one("#trades-summary", Static).render())
        assert "6 round trips" in summary and "3 sells of coins bought before" in summary
        await pilot.press("slash")
        box = app.query_one("#filter", Input)
        box.value = "paper-2"
        await pilot.press("enter")
        await settle(pilot)
        assert {trips.get_row(k)[1] for k in trips.row_keys} == {"paper-2"}
        fills = app.query_one("#fills-table", LineTable)
        assert {fills.get_row(k)[1] for k in fills.row_keys} == {"paper-2"}
        trips.focus()
        await pilot.press("enter")
        await settle(pilot)
        text = str(app.screen.query_one("#detail-text", Static).render())
        assert "paper-2 BTC-USD: 0.002 bought" in text and "PnL net of fees -2.28" in text
