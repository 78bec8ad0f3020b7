"""The `R` screen: a trader's day/week/month report, as a table and terminal charts.

The same numbers as `cappuccino report` (engine.reports' rows), read in a worker thread with
its own Store; the charts are built off the UI thread too.
"""

from __future__ import annotations

from pathlib import Path

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Static, Tab, Tabs

from console.report_data import PERIODS, ReportData, load_report
from console.threads import deliver
from widgets.footer import Footer
from widgets.plot_chart import PlotChart
from widgets.static_text import plain

WIDE = 120  # from this width on, the charts sit two by two


class ReportScreen(Screen[None]):
    DEFAULT_CSS = """
    ReportScreen #report-title { height: 1; background: $boost; padding: 0 1; }
    ReportScreen #report-status { height: auto; padding: 0 1; }
    ReportScreen #report-status.error { color: $error; text-style: bold; }
    ReportScreen #report-rows { height: auto; }
    ReportScreen #report-charts { layout: grid; grid-size: 1; grid-rows: 14; height: auto; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Close"),
        Binding("d", "period('day')", "Day"),
        Binding("w", "period('week')", "Week"),
        Binding("m", "period('month')", "Month"),
    ]

    def __init__(self, trader: str | None, store_path: str | Path, busy_timeout_s: float = 10.0,
                 period: str = "day") -> None:
        super().__init__()
        self.trader = trader
        self.store_path = Path(store_path)
        self.busy_timeout_s = busy_timeout_s
        self.period = period if period in PERIODS else PERIODS[0]
        self.data: ReportData | None = None  # the report shown now (tests read it)
        self.loads = 0

    def compose(self) -> ComposeResult:
        yield Static(plain(self._title()), id="report-title")
        yield Tabs(*(Tab(p, id=p) for p in PERIODS), active=self.period, id="report-period")
        yield Static("loading…", id="report-status")
        with VerticalScroll(id="report-body"):
            table: DataTable[str] = DataTable(cursor_type="row", id="report-rows")
            table.add_columns("metric", "value")
            yield table
            with Container(id="report-charts"):
                for i in range(4):
                    yield PlotChart(id=f"report-chart-{i}")
        yield Footer()

    def _title(self) -> str:
        who = self.trader or "all traders"
        return f"Report: {who}, last {self.period}   (d day · w week · m month · esc close)"

    def on_mount(self) -> None:
        self._layout_charts(self.size.width)
        self.query_one(DataTable).focus()
        self._reload()

    def on_resize(self, event: events.Resize) -> None:
        self._layout_charts(event.size.width)

    def _layout_charts(self, width: int) -> None:
        self.query_one("#report-charts").styles.grid_size_columns = 2 if width >= WIDE else 1

    # -- period -----------------------------------------------------------------------
    def action_period(self, period: str) -> None:
        self.query_one(Tabs).active = period

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        event.stop()
        period = event.tab.id if event.tab is not None else None
        if period in PERIODS and period != self.period:
            self.period = period
            self._reload()

    def _reload(self) -> None:
        self.query_one("#report-title", Static).update(plain(self._title()))
        status = self.query_one("#report-status", Static)
        status.remove_class("error")
        status.update(f"loading the {self.period} report…")
        self._load(self.period)

    @work(thread=True, exclusive=True, group="report")
    def _load(self, period: str) -> None:
        data = load_report(self.store_path, period, self.trader, self.busy_timeout_s)
        deliver(self.app, self._show, data)

    # -- render -----------------------------------------------------------------------
    def _show(self, data: ReportData) -> None:
        if not self.is_attached or data.period != self.period:
            return  # closed, or the operator switched period meanwhile
        self.data = data
        self.loads += 1
        status = self.query_one("#report-status", Static)
        table = self.query_one("#report-rows", DataTable)
        table.clear()
        charts = list(self.query(PlotChart))
        if data.error:
            status.add_class("error")
            status.update(plain(data.error))  # an exception's text: never markup
            self.query_one("#report-charts").display = False
            return
        status.update("")
        for label, value in data.rows:
            table.add_row(label, value, key=label)
        self.query_one("#report-charts").display = True
        for chart, spec in zip(charts, data.charts, strict=False):
            chart.set_spec(spec)

    def action_close(self) -> None:
        self.dismiss(None)
