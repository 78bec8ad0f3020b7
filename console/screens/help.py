"""The `?` screen: every key of the console."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from console.screens.confirm import MODAL_CSS

KEYS: tuple[tuple[str, str, bool], ...] = (
    # (key, what it does, changes something)
    ("1-8", "switch pane: Trials, GPU, Processes, Positions, Conviction, Execution, Alerts, "
     "Trades", False),
    ("tab / arrows", "move between and within tables", False),
    ("?", "this help", False),
    ("!", "jump to what the health line reports (again for the next problem)", False),
    ("enter", "the selected row in full (long reasons and messages)", False),
    ("/", "filter the rows of every table (empty to clear)", False),
    ("ctrl+p", "command palette", False),
    ("l", "log of the selected process (follow, search)", False),
    ("R", "report of the selected trader: day/week/month table and charts", False),
    ("t", "show the next study (the palette lists them all)", False),
    ("s", "start a study (name, timeframe, trials, GPU)", True),
    ("p", "promote the selected trial to paper (shows the gates)", True),
    ("E", "promote an ensemble of the top k trials to paper", True),
    ("L", "promote the selected trader to live (gates, capital, typed confirmation)", True),
    ("c", "change the selected trader's capital (shows the gates)", True),
    ("k", "stop the selected process (SIGTERM, confirm)", True),
    ("K", "kill the selected process (SIGKILL, confirm)", True),
    ("r", "restart the selected process (confirm)", True),
    ("x", "kill switch: HALT all traders (confirm)", True),
    ("f", "exit: sell the selected position to flat (confirm)", True),
    ("F", "flatten: sell every position of the selected trader (confirm)", True),
    ("escape", "close a dialog, the log or the report (while open, only its keys work)",
     False),
    ("q / ctrl+q", "quit the console (nothing else stops; on other screens ctrl+q)", False),
)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, readonly: bool, store_path: str) -> None:
        super().__init__()
        self.readonly, self.store_path = readonly, store_path

    def compose(self) -> ComposeResult:
        lines = [f"[b]{k:>13}[/b]  {what}" for k, what, mutates in KEYS
                 if not (mutates and self.readonly)]
        if self.readonly:
            lines.append("\nRead-only: keys that change anything are off.")
        with Vertical():
            yield Static("Cappuccino console keys", classes="title")
            yield Static("\n".join(lines))
            yield Static(f"\nstore: {self.store_path}   (escape closes)")

    def action_close(self) -> None:
        self.dismiss(None)
