"""The console's flows: what each action key asks, confirms and queues for the supervisor.

A mixin of `CappuccinoApp`, kept apart from the layout and the refresh loop (app.py). Every
write goes through `console.commands.submit` as a command row; the supervisor decides.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import work
from textual.app import App

from console.commands import CommandRequest, submit
from console.data import Loader, ProcessLoader, Snapshot
from console.threads import deliver
from engine.config import Config
from widgets.positions import PositionsPane
from widgets.processes import ProcessesPane
from widgets.trials import TrialsPane


class Flows(App[None]):
    """Action handlers; the app sets these attributes in its __init__."""

    cfg: Config
    readonly: bool
    clock: Callable[[], float]
    loader: Loader | ProcessLoader
    snapshot: Snapshot | None
    pending: dict[int, CommandRequest]

    # -- selection --------------------------------------------------------------------
    def _selected_process(self) -> str | None:
        name = self.query_one(ProcessesPane).selected_process
        if name is None:
            self.notify("Select a process in the Processes pane (3) first.", severity="warning")
        return name

    def _selected_trader(self) -> str | None:
        name = self.query_one(PositionsPane).selected_trader
        if name is None:
            self.notify("Select a trader in the Positions pane (4) first.", severity="warning")
        return name

    # -- flows ------------------------------------------------------------------------
    def action_logs(self) -> None:
        from console.screens.logs import LogScreen

        name = self._selected_process()
        if name is None or self.snapshot is None:
            return
        from engine.supervisor.spawn import own_log_path

        proc = next((p for p in self.snapshot.processes if p.name == name), None)
        # The row's path only when it lies in [paths] logs: a row is anyone's to write.
        path = str(own_log_path(self.cfg, name, proc.log_path if proc else None))
        self.push_screen(LogScreen(name, path, self.cfg.console.refresh_s))

    def action_report(self) -> None:
        from console.screens.report import ReportScreen

        if isinstance(self.screen, ReportScreen):
            return  # one report at a time: d/w/m switch its period
        name = self._selected_trader()
        if name is not None:
            self.push_screen(ReportScreen(name, self.cfg.store.path,
                                          self.cfg.store.busy_timeout_s))

    def action_start_study(self) -> None:
        from console.screens.forms import StudyForm

        gpus = ("auto", "cpu", *(f"cuda:{g.gpu}" for g in (self.snapshot.gpus
                                                            if self.snapshot else ())))
        self.push_screen(StudyForm(self.cfg.study.name, self.cfg.data.timeframe,
                                   self.cfg.study.n_trials, gpus), self._queue)

    def action_promote_paper(self) -> None:
        study = self.snapshot.study if self.snapshot else None
        if study is None:
            self.notify("No study to promote from.", severity="warning")
            return
        trial = self.query_one(TrialsPane).selected_trial
        if trial is None:
            trial = study.best_trial
        if trial is None:
            self.notify("Select a trial in the Trials pane (1) first.", severity="warning")
            return
        self._gates_paper(study.name, trial, None)

    def action_promote_ensemble(self) -> None:
        from console.screens.forms import EnsembleForm

        study = self.snapshot.study if self.snapshot else None
        if study is None:
            self.notify("No study to promote from.", severity="warning")
            return

        def chosen(k: int | None) -> None:
            if k:
                self._gates_paper(study.name, None, k)

        self.push_screen(EnsembleForm(), chosen)

    @work(thread=True, group="gates")
    def _gates_paper(self, study: str, trial: int | None, k: int | None) -> None:
        from console.gates import paper_gates
        from console.screens.promote import PromotePaperScreen

        report = paper_gates(self.loader.store(), self.cfg, study, trial, k, self.clock())
        deliver(self, self.push_screen, PromotePaperScreen(report, study, trial, k),
                              self._queue)

    def action_promote_live(self) -> None:
        name = self._selected_trader()
        if name is not None:
            self._gates_live(name)

    @work(thread=True, group="gates")
    def _gates_live(self, trader: str) -> None:
        from console.gates import live_gates
        from console.screens.promote import PromoteLiveScreen

        report = live_gates(self.loader.store(), self.cfg, trader, self.clock())
        first = min(self.cfg.gates.capital_steps)
        deliver(self, self.push_screen,
                              PromoteLiveScreen(report, trader, f"{first:g}", first),
                              self._queue)

    def action_capital(self) -> None:
        from console.screens.forms import CapitalForm

        name = self._selected_trader()
        if name is None or self.snapshot is None:
            return
        trader = next((t for t in self.snapshot.traders if t.name == name), None)
        current = trader.capital if trader else ""

        def chosen(req: CommandRequest | None) -> None:
            if req is not None:
                self._gates_capital(name, current, str(req.args["capital"]))

        self.push_screen(CapitalForm(name, current), chosen)

    @work(thread=True, group="gates")
    def _gates_capital(self, trader: str, current: str, capital: str) -> None:
        """The capital step's gates (engine.promote.plan), shown before anything is sent."""
        from console.gates import capital_gates
        from console.screens.promote import ChangeCapitalScreen

        report = capital_gates(self.loader.store(), self.cfg, trader, float(capital),
                               self.clock())
        deliver(self, self.push_screen,
                              ChangeCapitalScreen(report, trader, current, capital), self._queue)

    def _confirm_process(self, action: str, verb: str, detail: str) -> None:
        from console.screens.confirm import ConfirmScreen

        name = self._selected_process()
        if name is None:
            return

        def done(ok: bool | None) -> None:
            if ok:
                self._queue(CommandRequest(action, name))

        self.push_screen(ConfirmScreen(f"{verb} {name}?", detail, verb), done)

    def action_stop(self) -> None:
        self._confirm_process("stop", "Stop", "SIGTERM to the process group, then SIGKILL "
                              "after the grace period. The supervisor will not restart it.")

    def action_kill(self) -> None:
        self._confirm_process("kill", "Kill", "SIGKILL now: no clean shutdown. "
                              "Open orders stay as they are.")

    def action_restart(self) -> None:
        self._confirm_process("restart", "Restart", "Stop, then start again.")

    def action_exit_position(self) -> None:
        """f: sell the selected position (Positions pane) to flat."""
        from console.screens.confirm import ConfirmScreen

        key = self.query_one(PositionsPane).selected_position
        if key is None:
            self.notify("Select a position in the Positions pane (4) first.", severity="warning")
            return
        trader, _, ticker = key.partition(":")

        def done(ok: bool | None) -> None:
            if ok:
                self._queue(CommandRequest("exit", trader, {"ticker": ticker}))

        self.push_screen(ConfirmScreen(
            f"Exit {ticker} of {trader}?", "The trader goes REDUCING (no buys) and sells the "
            "whole position through its risk engine, maker first, taker after the re-price "
            "deadline. Then it trades again.", "Exit"), done)

    def action_flatten(self) -> None:
        """F: sell every position of the selected trader to flat."""
        from console.screens.confirm import ConfirmScreen

        trader = self._selected_trader()
        if trader is None:
            return

        def done(ok: bool | None) -> None:
            if ok:
                self._queue(CommandRequest("exit", trader, {}))

        self.push_screen(ConfirmScreen(
            f"FLATTEN {trader}?", "Every position of this trader is sold to flat (REDUCING "
            "until done; risk checks and maker-first orders as usual). HALT does not do this: "
            "it keeps positions.", "Flatten"), done)

    def action_halt_all(self) -> None:
        from console.screens.confirm import ConfirmScreen

        def done(ok: bool | None) -> None:
            if ok:
                self._queue(CommandRequest("halt_all", None, {"reason": "console kill switch"}))

        self.push_screen(ConfirmScreen(
            "HALT ALL TRADERS?", "Every trader cancels its open orders and goes to HALTED. "
            "Resume each one later on purpose.", "HALT all"), done)

    def _queue(self, req: CommandRequest | None) -> None:
        if req is None or self.readonly:
            return
        self._insert(req)

    @work(thread=True, group="commands")
    def _insert(self, req: CommandRequest) -> None:
        try:
            cid = submit(self.loader.store(), req, self.cfg)
        except Exception as e:  # a locked or missing store: say so, keep running
            deliver(self, self.notify, f"{req.describe()}: not queued ({e})",
                                  severity="error", timeout=15)
            return
        deliver(self, self._queued, cid, req)

    def _queued(self, cid: int, req: CommandRequest) -> None:
        self.pending[cid] = req
        self.notify(f"{req.describe()} (#{cid}) sent to the supervisor", title="command queued")
