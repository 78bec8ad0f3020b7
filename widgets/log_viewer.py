"""A log viewer: the tail of a log, follow mode, and a search that keeps matching lines."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Log, Static


class LogViewer(Vertical):
    DEFAULT_CSS = """
    LogViewer { height: 1fr; }
    LogViewer #log-status { height: 1; background: $boost; }
    LogViewer Log { height: 1fr; }
    LogViewer Input { height: 3; display: none; }
    LogViewer Input.visible { display: block; }
    """
    BINDINGS = [
        Binding("f", "toggle_follow", "Follow"),
        Binding("slash", "search", "Search"),
        Binding("n", "clear_search", "Clear search"),
    ]

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self.follow = True
        self.term = ""
        self._lines: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="log-status")
        yield Log(highlight=False, auto_scroll=True)
        yield Input(placeholder="search (enter to apply, empty to clear)", id="log-search")

    def on_mount(self) -> None:
        self._status()

    def set_lines(self, lines: Sequence[str]) -> None:
        """Replace the shown tail (ignored while follow is off, so reading is not disturbed)."""
        if list(lines) == self._lines or (not self.follow and self._lines):
            return
        self._lines = list(lines)
        self._render_lines()

    def _render_lines(self) -> None:
        log = self.query_one(Log)
        log.auto_scroll = self.follow
        log.clear()
        term = self.term.lower()
        shown = [ln for ln in self._lines if term in ln.lower()] if term else self._lines
        log.write_lines(shown)
        self._status(len(shown))

    def _status(self, shown: int | None = None) -> None:
        parts = [self.title, "follow" if self.follow else "paused"]
        if self.term:
            parts.append(f"search {self.term!r}: {shown if shown is not None else 0} lines")
        parts.append("f follow · / search · n clear · esc close")
        self.query_one("#log-status", Static).update("  ".join(parts))

    @property
    def lines_shown(self) -> list[str]:
        return [str(line) for line in self.query_one(Log).lines]

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        self._render_lines()

    def action_search(self) -> None:
        box = self.query_one(Input)
        box.add_class("visible")
        box.focus()

    def action_clear_search(self) -> None:
        self.term = ""
        self._render_lines()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.term = event.value.strip()
        event.input.remove_class("visible")
        self.query_one(Log).focus()
        self._render_lines()
