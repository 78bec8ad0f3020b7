"""A row or a problem in full: long cells (state reasons, alert messages) wrap here."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Static

from console.screens.confirm import MODAL_CSS


class DetailScreen(ModalScreen[None]):
    DEFAULT_CSS = MODAL_CSS + """
    DetailScreen VerticalScroll { height: auto; max-height: 20; }
    """
    BINDINGS = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text, self.text = title, text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(escape(self.title_text), classes="title")
            with VerticalScroll():
                yield Static(escape(self.text), id="detail-text")
            yield Static("[dim]esc closes[/]")

    def action_close(self) -> None:
        self.dismiss(None)
