"""Widgets render plain data and keep tables in step without losing the cursor."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Static

from widgets.equity_chart import build_chart
from widgets.line_table import LineTable
from widgets.log_viewer import LogViewer
from widgets.processes import ProcessesPane
from widgets.table import selected_key, sync_table
from widgets.trials import TrialsPane


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        t: DataTable[object] = DataTable(cursor_type="row")
        t.add_columns("a", "b")
        yield t


async def test_sync_table_updates_in_place_and_keeps_the_cursor() -> None:
    app = TableApp()
    async with app.run_test() as pilot:
        t = app.query_one(DataTable)
        sync_table(t, [("x", ("1", "2")), ("y", ("3", "4")), ("z", ("5", "6"))])
        t.move_cursor(row=1)
        sync_table(t, [("x", ("1", "2")), ("y", ("3", "40")), ("z", ("5", "6"))])
        await pilot.pause()
        assert t.get_row("y") == ["3", "40"] and selected_key(t) == "y"
        sync_table(t, [("w", ("0", "0")), ("x", ("1", "2")), ("y", ("3", "40"))])
        await pilot.pause()
        assert [k.value for k in t.rows] == ["w", "x", "y"] and selected_key(t) == "y"
        sync_table(t, [])
        assert t.row_count == 0 and selected_key(t) is None


@dataclass(frozen=True)
class Proc:
    name: str
    kind: str = "trader"
    state: str = "RUNNING"
    pid: int | None = 42
    restarts: int = 0
    uptime_s: float | None = 90.0
    cpu_pct: float | None = 3.0
    rss_mb: float | None = 100.0
    last_log: str = "hello"
    last_error: str | None = None


class ProcApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.selected: list[str | None] = []

    def compose(self) -> ComposeResult:
        yield ProcessesPane()

    def on_processes_pane_process_selected(self, m: ProcessesPane.ProcessSelected) -> None:
        self.selected.append(m.name)


async def test_processes_pane_renders_filters_and_posts_selection() -> None:
    app = ProcApp()
    async with app.run_test(size=(120, 20)) as pilot:
        pane = app.query_one(ProcessesPane)
        pane.update_data([Proc("a"), Proc("b", state="FATAL", pid=None, last_error="boom")])
        await pilot.pause()
        table = pane.query_one(LineTable)
        assert table.row_count == 2 and table.get_row("b")[2] == "FATAL"
        assert "fatal 1" in str(pane.query_one("#procs-summary", Static).render())
        table.focus()
        await pilot.press("down")
        await pilot.pause()
        assert app.selected[-1] == "b" and pane.selected_process == "b"
        assert "boom" in str(pane.query_one("#procs-detail", Static).render())
        pane.update_data([Proc("a"), Proc("b", state="FATAL")], filter_text="fatal")
        assert table.row_keys == ["b"]


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LogViewer("log of x")


async def test_log_viewer_search_and_follow() -> None:
    app = LogApp()
    async with app.run_test() as pilot:
        v = app.query_one(LogViewer)
        v.set_lines([f"line {i} {'ERROR' if i % 10 == 0 else 'ok'}" for i in range(100)])
        await pilot.pause()
        assert len(v.lines_shown) == 100
        v.query_one("Log").focus()
        await pilot.press("slash", *"error", "enter")
        await pilot.pause()
        assert v.lines_shown == [f"line {i} ERROR" for i in range(0, 100, 10)]
        await pilot.press("f")  # paused: new lines do not disturb reading
        v.set_lines(["new"])
        assert v.lines_shown[0] == "line 0 ERROR"
        await pilot.press("n", "f")
        v.set_lines(["new"])
        assert v.lines_shown == ["new"]


def test_build_chart_fits_the_given_size() -> None:
    pts = [(1000.0 + i * 300, 100.0 + i, 100.0 + i / 2, None) for i in range(50)]
    text = build_chart("t: equity vs HODL", pts, 60, 12)
    lines = text.splitlines()
    assert len(lines) <= 12 and "equity" in text and "HODL" in text
    assert "backtest" not in text  # no backtest recorded: no backtest line
    assert "no data" in build_chart("t", [], 40, 8)


def test_build_chart_draws_the_backtest_where_recorded() -> None:
    pts = [(1000.0 + i * 300, 100.0 + i, None, 100.0 + 2 * i if i > 10 else None)
           for i in range(50)]
    text = build_chart("t", pts, 60, 12)
    assert "backtest" in text and "HODL" not in text


@dataclass(frozen=True)
class Attempt:
    trial: int
    attempt: int = 0
    state: str = "COMPLETE"
    error_class: str | None = None
    objective: float | None = 0.25
    device: str | None = "cuda:0"
    peak_mem_mb: float | None = 900.0
    progress: float = 1.0
    started_at: float = 0.0
    sharpe: float | None = None
    ew_sharpe: float | None = None
    hodl_sharpe: float | None = None
    host: str | None = None
    mirrored: int = 0


class TrialsApp(App[None]):
    def compose(self) -> ComposeResult:
        yield TrialsPane()


async def _trial_columns(width: int) -> tuple[tuple[str, ...], dict[str, list[str]]]:
    app = TrialsApp()
    async with app.run_test(size=(width, 20)) as pilot:
        await pilot.pause()
        pane = app.query_one(TrialsPane)
        pane.update_data(None, None, [
            Attempt(1, sharpe=1.2, ew_sharpe=0.4, hodl_sharpe=0.9),
            Attempt(2, state="FAILED", objective=None, error_class="ValueError")], [])
        await pilot.pause()
        table = pane.query_one(LineTable)
        return table.columns, {k: table.get_row(k) for k in table.row_keys}


async def test_trials_pane_shows_sharpe_next_to_benchmarks_on_any_width() -> None:
    for width in (80, 160):
        columns, rows = await _trial_columns(width)
        cells = dict(zip(columns, rows["1:0"], strict=True))
        assert (cells["sharpe"], cells["EW"], cells["HODL"]) == ("1.20", "0.40", "0.90")
        failed = dict(zip(columns, rows["2:0"], strict=True))
        assert (failed["sharpe"], failed["EW"], failed["HODL"]) == ("-", "-", "-")
        assert failed["error"] == "ValueError"
        # On a narrow pane the device and memory columns go first.
        assert ("device" in columns) == (width >= 100) and ("mem" in columns) == (width >= 100)


async def test_trials_pane_relays_columns_when_resized() -> None:
    app = TrialsApp()
    async with app.run_test(size=(160, 20)) as pilot:
        await pilot.pause()
        pane = app.query_one(TrialsPane)
        pane.update_data(None, None, [Attempt(1, sharpe=0.5), Attempt(2)], [])
        table = pane.query_one(LineTable)
        table.move_cursor(row=1)
        await pilot.pause()
        assert "device" in table.columns
        await pilot.resize_terminal(80, 20)
        await pilot.pause()
        assert "device" not in table.columns
        assert len(table.get_row("1:0")) == len(table.columns)
        assert table.selected_key == "2:0"  # the cursor stays on its row



async def test_trials_header_shows_the_best_completed_trial_when_none_is_recorded() -> None:
    app = TrialsApp()
    async with app.run_test(size=(120, 30)) as pilot:
        attempts = [Attempt(0, objective=-0.31), Attempt(1, objective=-0.16),
                    Attempt(2, state="FAILED", objective=None)]
        app.query_one(TrialsPane).update_data(StudyNoBest(), None, attempts, [])
        await pilot.pause()
        text = str(app.query_one("#trials-summary", Static).render())
        assert "best -0.160 (#1)" in text


@dataclass(frozen=True)
class StudyNoBest:
    name: str = "s"
    timeframe: str = "5m"
    n_trials: int = 4
    best_value: float | None = None
    best_trial: int | None = None
    pbo: float | None = None
