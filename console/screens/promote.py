"""Promotion modals: they show every gate with its value; a refused gate blocks the command."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

from console.commands import CommandRequest
from console.gates import GateReport
from console.screens.confirm import MODAL_CSS
from console.screens.forms import parse_capital

CONFIRM_WORD = "LIVE"


def _fmt(value: Any) -> str:
    # the same 4 significant digits as the CLI's gate lines (engine.gates.GateResult.shown)
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class _Promote(ModalScreen[CommandRequest | None]):
    DEFAULT_CSS = MODAL_CSS + """
    _Promote DataTable { height: auto; max-height: 8; }
    _Promote Label { margin-top: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, report: GateReport) -> None:
        super().__init__()
        self.report = report

    def gate_table(self) -> DataTable[str]:
        table: DataTable[str] = DataTable(cursor_type="none", id="gates")
        table.add_columns("gate", "value", "needs", "")
        for g in self.report.gates:
            table.add_row(g.name, _fmt(g.value), _fmt(g.threshold), "pass" if g.passed else "FAIL")
        return table

    def verdict(self) -> Static:
        if self.report.passed:
            return Static("All gates pass.", id="verdict")
        names = ", ".join(g.name for g in self.report.refused)
        return Static(f"Refused: {names}. (Override with `cappuccino promote --force "
                      "--reason ...`.)", id="verdict", classes="refused")

    def buttons(self, label: str) -> Horizontal:
        ok = Button(label, id="ok", variant="warning", disabled=not self.report.passed)
        return Horizontal(Button("Cancel", id="cancel"), ok, classes="buttons")

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
        elif self.report.passed:
            self.submit()

    def submit(self) -> None:
        raise NotImplementedError


class PromotePaperScreen(_Promote):
    """p: a trial (or the top-k ensemble) to a paper trader."""

    BINDINGS = [*_Promote.BINDINGS, Binding("enter", "promote", "Promote", show=False)]

    def __init__(self, report: GateReport, study: str, trial: int | None,
                 ensemble_k: int | None = None) -> None:
        super().__init__(report)
        self.study, self.trial, self.ensemble_k = study, trial, ensemble_k

    def compose(self) -> ComposeResult:
        what = (f"ensemble of the top {self.ensemble_k}" if self.ensemble_k
                else f"trial {self.trial}")
        with Vertical():
            yield Static(f"Promote {what} of {self.study} to paper", classes="title")
            yield self.gate_table()
            yield self.verdict()
            yield self.buttons("Promote to paper")

    def on_mount(self) -> None:
        self.query_one("#ok" if self.report.passed else "#cancel", Button).focus()

    def action_promote(self) -> None:
        if self.report.passed:
            self.submit()

    def submit(self) -> None:
        args: dict[str, Any] = {"to": "paper", "study": self.study}
        if self.ensemble_k:
            args["model"] = f"ensemble:{self.ensemble_k}"
        else:
            args["trial"] = self.trial
        self.dismiss(CommandRequest("promote", self.study, args))


class PromoteLiveScreen(_Promote):
    """L: a paper trader to live, with a starting capital and a typed confirmation."""

    def __init__(self, report: GateReport, trader: str, capital: str,
                 max_capital: float | None = None) -> None:
        super().__init__(report)
        self.trader, self.capital, self.max_capital = trader, capital, max_capital

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Promote {self.trader} to LIVE trading (real money)", classes="title")
            yield self.gate_table()
            yield self.verdict()
            if self.report.passed:
                yield Label("Starting capital")
                yield Input(self.capital, id="capital")
                yield Label(f"Type {CONFIRM_WORD} or the trader's name to confirm")
                yield Input("", id="confirm")
            yield Static("", id="form-error", classes="refused")
            yield self.buttons("Go live")

    def on_mount(self) -> None:
        if self.report.passed:
            self.query_one("#capital", Input).focus()
        else:
            self.query_one("#cancel", Button).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "capital":
            self.query_one("#confirm", Input).focus()
        else:
            self.submit()

    def submit(self) -> None:
        if not self.report.passed:
            return
        capital = parse_capital(self.query_one("#capital", Input).value)
        typed = self.query_one("#confirm", Input).value.strip()
        if capital is None:
            self.query_one("#form-error", Static).update("capital: a positive amount")
            return
        if self.max_capital is not None and float(capital) > self.max_capital:
            self.query_one("#form-error", Static).update(
                f"capital: live trading starts at most at {self.max_capital:g} "
                "(the first capital step)")
            return
        if typed not in (CONFIRM_WORD, self.trader):
            self.query_one("#form-error", Static).update(
                f"type {CONFIRM_WORD} or {self.trader} to confirm")
            return
        self.dismiss(CommandRequest("promote", self.trader, {
            "to": "live", "trader": self.trader, "capital": str(capital)}))


class ChangeCapitalScreen(_Promote):
    """c (after the amount): the capital gates, then Enter or the button sends the change."""

    BINDINGS = [*_Promote.BINDINGS, Binding("enter", "change", "Change", show=False)]

    def __init__(self, report: GateReport, trader: str, current: str, capital: str) -> None:
        super().__init__(report)
        self.trader, self.current, self.capital = trader, current, capital

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Change capital of {self.trader}: {self.current or '-'} -> "
                         f"{self.capital}", classes="title")
            yield self.gate_table()
            yield self.verdict()
            yield self.buttons("Change capital")

    def on_mount(self) -> None:
        self.query_one("#ok" if self.report.passed else "#cancel", Button).focus()

    def action_change(self) -> None:
        if self.report.passed:
            self.submit()

    def submit(self) -> None:
        self.dismiss(CommandRequest("capital", self.trader,
                                    {"trader": self.trader, "capital": self.capital}))
