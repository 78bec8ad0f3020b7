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
from widgets.trials import RunningTrial, TrialsPane


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


@dataclass(frozen=True)
class Study:
    name: str = "s"
    timeframe: str = "5m"
    n_trials: int = 40
    best_value: float | None = 0.3
    best_trial: int | None = 1
    pbo: float | None = 0.2


@dataclass(frozen=True)
class Counts:
    hosts: int
    total: int = 4
    running: int = 2
    complete: int = 1
    failed: int = 1
    pruned: int = 0
    retrying: int = 0
    retried: int = 0


SHARED = [  # this host's trials (one from an older worker that named no host), and mirrored
    Attempt(1, host="gpu-a.lab.example"), Attempt(2, host=None),
    Attempt(3, state="RUNNING", objective=None, progress=0.8, host="gpu-b.lab.example",
            mirrored=1, device="cuda:1"),
    Attempt(4, state="FAILED", objective=None, error_class="ValueError", host="10.0.0.7",
            mirrored=1)]


async def _shared(width: int, hosts: int, filter_text: str = "") -> dict[str, object]:
    app = TrialsApp()
    async with app.run_test(size=(width, 24)) as pilot:
        await pilot.pause()
        pane = app.query_one(TrialsPane)
        running = [a for a in SHARED if a.state == "RUNNING"]
        pane.update_data(Study(), Counts(hosts), SHARED, running, filter_text)
        await pilot.pause()
        table = pane.query_one(LineTable)
        rows = {k: dict(zip(table.columns, table.get_row(k), strict=True))
                for k in table.row_keys}
        return {"columns": table.columns, "rows": rows,
                "summary": str(pane.query_one("#trials-summary", Static).render()),
                "bars": [b._label for b in pane.query(RunningTrial)]}


async def test_trials_pane_shows_where_each_trial_ran_when_hosts_share_the_study() -> None:
    wide = await _shared(160, hosts=3)
    assert "3 hosts" in wide["summary"]
    hosts = {k: r["host"] for k, r in wide["rows"].items()}
    # Full names on a wide pane; this host's unnamed attempt says it is local.
    assert hosts == {"1:0": "gpu-a.lab.example", "2:0": "local", "3:0": "gpu-b.lab.example",
                     "4:0": "10.0.0.7"}
    cols = wide["columns"]
    assert cols.index("HODL") < cols.index("host") < cols.index("device")
    # A running trial's bar says where it runs (its progress comes from the mirror).
    assert wide["bars"] == ["trial 3 gpu-b cuda:1"]


async def test_trials_pane_host_column_is_compact_at_80_columns() -> None:
    narrow = await _shared(80, hosts=3)
    cols = narrow["columns"]
    assert "host" in cols and "device" not in cols
    # It comes after objective and the Sharpe columns, so a crop takes it first.
    assert cols.index("host") > max(cols.index(c) for c in ("objective", "sharpe", "HODL"))
    hosts = {k: r["host"] for k, r in narrow["rows"].items()}
    assert hosts == {"1:0": "gpu-a", "2:0": "local", "3:0": "gpu-b", "4:0": "10.0.0.7"}


async def test_trials_pane_filter_sees_full_host_names() -> None:
    got = await _shared(80, hosts=3, filter_text="lab.example")
    assert set(got["rows"]) == {"1:0", "3:0"}


async def test_trials_pane_single_host_shows_no_host_column_or_count() -> None:
    for width in (80, 160):
        got = await _shared(width, hosts=1)
        assert "host" not in got["columns"] and "hosts" not in got["summary"]
        assert got["bars"] == ["trial 3 try 0 cuda:1"]


async def test_trials_pane_adds_the_host_column_when_a_second_host_appears() -> None:
    app = TrialsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        pane = app.query_one(TrialsPane)
        table = pane.query_one(LineTable)
        pane.update_data(Study(), Counts(1), SHARED[:2], [])
        await pilot.pause()
        assert "host" not in table.columns
        pane.update_data(Study(), Counts(2), SHARED, [])  # the mirror brought gpu-b's trials
        await pilot.pause()
        assert "host" in table.columns
        assert all(len(table.get_row(k)) == len(table.columns) for k in table.row_keys)


@dataclass(frozen=True)
class StudyWithEvidence(Study):
    evidence_dict: dict | None = None


async def test_trials_header_shows_the_deflated_evidence() -> None:
    ev = {"trials_attempted": 19, "pbo": 0.47,
          "best": {"trial": 7, "dsr": 0.312, "holdout_active_sharpe": 1.23,
                   "holdout_ci": [-3.1, 5.44],
                   "baselines": {"cash": 0.9, "hodl": -0.2, "equal_weight": 0.0,
                                 "static_tilt": 0.5}},
          "gate": {"paper": {"passed": False, "reasons": ["a", "b", "c"]}}}
    app = TrialsApp()
    async with app.run_test(size=(160, 24)) as pilot:
        await pilot.pause()
        pane = app.query_one(TrialsPane)
        pane.update_data(StudyWithEvidence(evidence_dict=ev), Counts(1), SHARED[:2], [])
        await pilot.pause()
        text = str(pane.query_one("#trials-summary", Static).render())
        assert "#7 DSR 0.31/19" in text and "held-out 1.2 [-3.1, 5.4]" in text
        assert "cash/hodl/EW/tilt 0.9/-0.2/0.0/0.5" in text and "paper gate refused (3)" in text
        pane.update_data(Study(), Counts(1), SHARED[:2], [])  # no evidence yet: no line
        await pilot.pause()
        assert "DSR" not in str(pane.query_one("#trials-summary", Static).render())


@dataclass(frozen=True)
class Alert:
    id: int
    trader: str | None
    level: str
    message: str
    at: float
    live_sharpe: float | None = None
    backtest_sharpe: float | None = None


class AlertsApp(App[None]):
    def compose(self) -> ComposeResult:
        from widgets.alerts import AlertsPane

        yield AlertsPane()


async def test_each_alert_says_its_clock_and_opens_in_full() -> None:
    replay_clock = 1_650_000_000.0  # 2022: the demo's replay
    wall = 1_796_000_000.0
    long = "live Sharpe far below the backtest for the whole of the week " * 3
    history = [Alert(1, "demo", "WARNING", "risk: losing streak", replay_clock - 600),
               Alert(2, "demo", "CRITICAL", long.strip(), wall - 60),
               Alert(3, "live-1", "WARNING", "maker ratio low", wall - 30)]
    app = AlertsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        from widgets.alerts import AlertsPane

        app.query_one(AlertsPane).update_data(["demo", "live-1"], {}, {}, history,
                                              clocks={"demo": replay_clock})
        await pilot.pause()
        table = app.query_one("#alerts-history", LineTable)
        assert [table.get_row(k)[1] for k in ("1", "2", "3")] == ["replay", "wall", "wall"]
        assert long.strip() not in table.get_row("2")[-1]  # cut in the table...
        assert long.strip() in table.detail_text("2")  # ...whole in the detail view
        assert "(wall clock)" in table.detail_text("2")


@dataclass(frozen=True)
class StudyNoBest:
    name: str = "s"
    timeframe: str = "5m"
    n_trials: int = 4
    best_value: float | None = None
    best_trial: int | None = None
    pbo: float | None = None


async def test_trials_header_shows_the_best_completed_trial_when_none_is_recorded() -> None:
    app = TrialsApp()
    async with app.run_test(size=(120, 30)) as pilot:
        attempts = [Attempt(0, objective=-0.31), Attempt(1, objective=-0.16),
                    Attempt(2, state="FAILED", objective=None)]
        app.query_one(TrialsPane).update_data(StudyNoBest(), None, attempts, [])
        await pilot.pause()
        text = str(app.query_one("#trials-summary", Static).render())
        assert "best -0.160 (#1)" in text
