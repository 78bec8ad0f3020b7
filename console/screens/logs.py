"""The `l` screen: the log of one process, refreshed from its file in a worker thread."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen

from console.procinfo import tail_lines
from console.threads import deliver
from widgets.footer import Footer
from widgets.log_viewer import LogViewer


class LogScreen(Screen[None]):
    BINDINGS = [Binding("escape,q", "close", "Close")]

    def __init__(self, process: str, log_path: str | None, refresh_s: float) -> None:
        super().__init__()
        self.process, self.log_path, self.refresh_s = process, log_path, refresh_s

    def compose(self) -> ComposeResult:
        yield LogViewer(f"log of {self.process}")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(self.refresh_s, self.reload)

    @work(thread=True, exclusive=True, group="log")
    def reload(self) -> None:
        lines = tail_lines(self.log_path, n=1000, max_bytes=256_000)
        if not lines:
            lines = [f"(no log yet at {self.log_path})" if self.log_path else "(no log file)"]
        deliver(self.app, self._show, lines)

    def _show(self, lines: list[str]) -> None:
        if self.is_attached:
            self.query_one(LogViewer).set_lines(lines)

    def action_close(self) -> None:
        self.dismiss(None)
