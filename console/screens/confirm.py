"""A yes/no confirmation. Enter or y confirms; Escape or n cancels."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from widgets.static_text import plain

MODAL_CSS = """
ModalScreen { align: center middle; }
ModalScreen > Vertical {
    width: 76; max-width: 100%; height: auto; max-height: 100%;
    border: thick $accent; background: $surface; padding: 0 1;
}
ModalScreen .title { text-style: bold; margin-bottom: 1; }
ModalScreen .refused { color: $error; text-style: bold; }
ModalScreen .buttons { height: auto; margin-top: 1; align-horizontal: right; }
ModalScreen .buttons Button { margin-left: 1; }
ModalScreen Input { margin-bottom: 0; }
"""


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape,n", "cancel", "Cancel"), Binding("y", "confirm", "Confirm")]

    def __init__(self, title: str, body: str, confirm_label: str = "Confirm") -> None:
        super().__init__()
        self._title, self._body, self._label = title, body, confirm_label

    def compose(self) -> ComposeResult:
        with Vertical():
            # Names in the question come from the store: shown as text, never as markup.
            yield Static(plain(self._title), classes="title")
            yield Static(plain(self._body))
            with Horizontal(classes="buttons"):
                yield Button("Cancel (n)", id="cancel")
                yield Button(f"{self._label} (y)", id="confirm", variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()  # the safe choice has the focus

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_confirm(self) -> None:
        self.dismiss(True)
