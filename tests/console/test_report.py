"""The `R` report screen: engine.reports' rows and four terminal charts, per period."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Static

from console.bench import T0
from console.report_data import load_report
from console.screens.report import ReportScreen
from store.db import Store
from widgets.plot_chart import PlotChart


async def settle(pilot: Any) -> None:
    for _ in range(4):  # the report and its charts load in worker threads
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def _rows(screen: ReportScreen) -> dict[str, str]:
    table = screen.query_one("#report-rows", DataTable)
    return {str(table.get_row(k)[0]): str(table.get_row(k)[1]) for k in table.rows}


async def test_report_screen_shows_rows_and_charts_and_switches_period(env: Any) -> None:
    app = env.app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("4")  # Positions: the first trader is selected
        await pilot.press("R")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReportScreen) and screen.trader == "paper-1"
        rows = _rows(screen)
        assert rows["trader"].startswith("paper-1 (paper, sim)")
        assert rows["trades"].startswith("4 (")  # paper-1 fills one trade every 6 hours
        day_period = rows["period"]
        charts = list(screen.query(PlotChart))
        assert len(charts) == 4
        specs = [c.spec for c in charts]
        assert all(s is not None for s in specs)
        assert [ln.label for ln in specs[0].lines] == ["equity", "HODL"]  # no ew_f recorded
        assert specs[1].lines and max(specs[1].lines[0].ys) <= 0.0  # drawdown is never above 0
        assert "equity" in str(charts[0].render())  # drawn off the UI thread, then shown

        await pilot.press("w")
        await settle(pilot)
        week = _rows(screen)
        assert screen.period == "week" and week["period"] != day_period
        assert week["trades"].startswith("12 (")  # all of paper-1's fills lie in 3 days
        assert len(screen.data.charts[2].bars) >= 2  # daily PnL: one bar per day after the first
        await pilot.press("m")
        await settle(pilot)
        assert screen.period == "month" and _rows(screen)["trades"].startswith("12 (")
        depth = len(app.screen_stack)
        await pilot.press("R")  # already open: no second report on top
        await pilot.pause()
        assert len(app.screen_stack) == depth and app.screen is screen
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ReportScreen)


async def test_report_of_an_empty_period_shows_the_operator_message(env: Any) -> None:
    with Store(env.db) as st, st.write():  # a trader with no rows at all
        st.conn.execute(
            "INSERT INTO traders (name, broker, mode, model, tickers, timeframe, capital, "
            "started_at, updated_at) VALUES ('quiet', 'sim', 'paper', 'm', '[]', '5m', '1000', "
            "?, ?)", (T0, T0))
    app = env.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(ReportScreen("quiet", env.db))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReportScreen)
        status = str(screen.query_one("#report-status", Static).render())
        assert "quiet: no trades between" in status
        assert screen.query_one("#report-rows", DataTable).row_count == 0


def test_load_report_names_an_unknown_trader(env: Any) -> None:
    data = load_report(env.db, "day", "nobody")
    assert data.error is not None and "no trader named 'nobody'" in data.error
    assert "paper-1" in data.error and data.rows == ()


async def test_report_key_is_in_help_and_palette_even_read_only(env: Any) -> None:
    from console.screens.help import KEYS

    assert any(k == "R" and "report" in what and not mutates for k, what, mutates in KEYS)
    app = env.app(readonly=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Report" in titles and "HALT all traders" not in titles
        await pilot.press("4", "R")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen) and app.screen.data is not None
        assert app.screen.data.error is None
