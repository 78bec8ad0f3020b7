"""Forms that become commands: start a study, change capital, pick an ensemble size."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from console.commands import CommandRequest
from console.screens.confirm import MODAL_CSS
from engine.study.request import TIMEFRAMES, TrainArgsError, train_request


def parse_capital(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip().replace(",", "").lstrip("$"))
    except InvalidOperation:
        return None
    return value if value.is_finite() and value > 0 else None


class _Form(ModalScreen[CommandRequest | None]):
    DEFAULT_CSS = MODAL_CSS + """
    _Form Label { margin-top: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def _error(self, text: str) -> None:
        self.query_one("#form-error", Static).update(text)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
        else:
            self.submit()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def submit(self) -> None:
        raise NotImplementedError

    def buttons(self, label: str) -> Horizontal:
        return Horizontal(Button("Cancel", id="cancel"),
                          Button(label, id="ok", variant="primary"), classes="buttons")


class StudyForm(_Form):
    """s: name, timeframe, number of trials, device -> command `train`.

    The fields go through engine.study.request, the validation the CLI's `train` and the
    supervisor use: what the form accepts, the supervisor runs."""

    def __init__(self, default_name: str, timeframe: str, n_trials: int,
                 gpus: tuple[str, ...]) -> None:
        super().__init__()
        self.defaults = (default_name, timeframe, n_trials)
        self.gpus = gpus

    def compose(self) -> ComposeResult:
        name, tf, n = self.defaults
        with Vertical():
            yield Static("Start a study", classes="title")
            yield Label("Name")
            yield Input(name, id="name")
            yield Label("Timeframe")
            yield Select([(t, t) for t in TIMEFRAMES], value=tf, allow_blank=False,
                         id="timeframe")
            yield Label("Trials")
            yield Input(str(n), id="n_trials", type="integer")
            yield Label("Device (auto, cpu or cuda:N)")
            yield Select([(g, g) for g in self.gpus], value=self.gpus[0], allow_blank=False,
                         id="gpu")
            yield Static("", id="form-error", classes="refused")
            yield self.buttons("Start")

    def submit(self) -> None:
        try:
            req = train_request(self.query_one("#name", Input).value,
                                str(self.query_one("#timeframe", Select).value),
                                self.query_one("#n_trials", Input).value,
                                device=str(self.query_one("#gpu", Select).value))
        except TrainArgsError as e:
            self._error(str(e))
            return
        self.dismiss(CommandRequest("train", req.study, {
            "study": req.study, "timeframe": req.timeframe, "n_trials": req.n_trials,
            "device": req.device}))


class CapitalForm(_Form):
    """c: a new capital for a trader -> command `capital`."""

    def __init__(self, trader: str, current: str) -> None:
        super().__init__()
        self.trader, self.current = trader, current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Change capital of {self.trader}", classes="title")
            yield Static(f"Current capital: {self.current}")
            yield Label("New capital (quote currency)")
            yield Input(self.current, id="capital")
            yield Static("", id="form-error", classes="refused")
            yield self.buttons("Change")

    def submit(self) -> None:
        value = parse_capital(self.query_one("#capital", Input).value)
        if value is None:
            self._error("capital: a positive amount, e.g. 2000")
            return
        self.dismiss(CommandRequest("capital", self.trader,
                                    {"trader": self.trader, "capital": str(value)}))


class EnsembleForm(ModalScreen[int | None]):
    """E: how many of the best trials form the ensemble."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Ensemble of the top k trials", classes="title")
            yield Label("k")
            yield Input("3", id="k", type="integer")
            yield Static("", id="form-error", classes="refused")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            k = int(event.value)
        except ValueError:
            k = 0
        if not 1 <= k <= 50:
            self.query_one("#form-error", Static).update("k: a whole number from 1 to 50")
            return
        self.dismiss(k)

    def action_cancel(self) -> None:
        self.dismiss(None)
