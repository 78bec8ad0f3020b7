"""Processes pane: kind, state, pid, uptime, restarts, CPU, RAM and the last log line."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from widgets.fmt import DASH, clip, duration, matches, mb
from widgets.inputs import ProcessLike
from widgets.line_table import LineTable
from widgets.static_text import set_markup, set_text
from widgets.table import selected_key, sync_table


class ProcessesPane(Vertical):
    # The summary and detail lines have fixed heights: their updates skip the layout.
    DEFAULT_CSS = """
    ProcessesPane { height: 1fr; }
    ProcessesPane #procs-summary { height: 1; }
    ProcessesPane LineTable { height: 1fr; }
    ProcessesPane #procs-detail { height: 2; background: $boost; }
    """

    class ProcessSelected(Message):
        def __init__(self, name: str | None) -> None:
            super().__init__()
            self.name = name

    def compose(self) -> ComposeResult:
        yield Static("", id="procs-summary")
        yield LineTable("name", "kind", "state", "pid", "up", "rst", "CPU", "RAM", "last log",
                        id="procs-table")
        yield Static("", id="procs-detail")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._procs: dict[str, ProcessLike] = {}

    def update_data(self, procs: Sequence[ProcessLike], filter_text: str = "") -> None:
        running = sum(1 for p in procs if p.state == "RUNNING")
        fatal = sum(1 for p in procs if p.state == "FATAL")
        set_text(self.query_one("#procs-summary", Static),
                 f"{len(procs)} processes  running [b]{running}[/b]  fatal [b]{fatal}[/b]"
                 if procs else "No processes (is the supervisor running?)", layout=False)
        rows = []
        for p in procs:
            cells = (p.name, p.kind, p.state, DASH if p.pid is None else str(p.pid),
                     duration(p.uptime_s), str(p.restarts),
                     DASH if p.cpu_pct is None else f"{p.cpu_pct:.0f}%", mb(p.rss_mb),
                     clip(p.last_log, 60))
            if matches(filter_text, *cells):
                rows.append((p.name, cells))
        self._procs = {p.name: p for p in procs}
        sync_table(self.query_one(LineTable), rows)
        self._detail()

    def _detail(self) -> None:
        p = self._procs.get(self.selected_process or "")
        box = self.query_one("#procs-detail", Static)
        if p is None:
            set_markup(box, "", layout=False)
            return
        # Log lines are anyone's text (an exchange's error, a Bot API answer): plain, never markup.
        set_markup(box, "[b]$name[/b] $log" + ("\n[b]last error[/b] $error" if p.last_error else ""),
                   layout=False, name=p.name, log=clip(p.last_log, 200),
                   error=clip(p.last_error or "", 200))

    @property
    def selected_process(self) -> str | None:
        return selected_key(self.query_one(LineTable))

    def on_line_table_row_highlighted(self, event: LineTable.RowHighlighted) -> None:
        event.stop()
        self._detail()
        self.post_message(self.ProcessSelected(self.selected_process))
