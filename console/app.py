"""The Textual app: panes in tabs, key bindings, and the flows that become commands.

The UI thread only renders Snapshots; every store read and the command insert run in
worker threads, so a busy store never freezes the screen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Header, Input, Static, TabbedContent, TabPane

from console.commands import MUTATING, CommandRequest
from console.data import EXECUTION_WINDOW_S, Loader, ProcessLoader, Snapshot
from console.flows import Flows
from console.health import Health, health
from console.threads import deliver
from engine.config import Config
from engine.metrics import MAKER_TARGET
from widgets.alerts import AlertsPane
from widgets.conviction import ConvictionPane
from widgets.execution import ExecutionPane
from widgets.fmt import clock as fmt_clock
from widgets.fmt import stamp as fmt_stamp
from widgets.footer import Footer
from widgets.gpu import GpuPane, system_line
from widgets.line_table import LineTable
from widgets.positions import PositionsPane
from widgets.processes import ProcessesPane
from widgets.static_text import set_markup
from widgets.styles_cache import release_styles_caches
from widgets.trades import TradesPane
from widgets.trials import TrialsPane

GC_FULL_S = 60.0

PANES = (("trials", "Trials"), ("gpu", "GPU"), ("processes", "Procs"),
         ("positions", "Positions"), ("conviction", "Conviction"), ("execution", "Execution"),
         ("alerts", "Alerts"), ("trades", "Trades"))


class CappuccinoApp(Flows):
    TITLE = "Cappuccino"
    CSS = """
    #health { height: auto; max-height: 3; padding: 0 1; background: $success-darken-3; }
    #health.bad { background: $error; color: $text; text-style: bold; }
    #status { height: 1; background: $boost; padding: 0 1; }
    #filter { dock: bottom; display: none; }
    #filter.visible { display: block; }
    TabbedContent { height: 1fr; }
    TabPane { padding: 0; }
    """
    BINDINGS = [
        *[Binding(str(i + 1), f"pane('{pid}')", label, show=False)
          for i, (pid, label) in enumerate(PANES)],
        Binding("question_mark", "help", "help"),
        Binding("exclamation_mark", "trouble", "why", key_display="!"),
        Binding("slash", "filter", "filter", show=False),
        Binding("l", "logs", "logs", show=False),
        Binding("R", "report", "Report", show=False),
        Binding("t", "next_study", "Next study", show=False),
        Binding("s", "start_study", "study"),
        Binding("p", "promote_paper", "paper"),
        Binding("E", "promote_ensemble", "Ensemble", show=False),
        Binding("L", "promote_live", "live"),
        Binding("c", "capital", "capital"),
        Binding("k", "stop", "stop"),
        Binding("K", "kill", "kill"),
        Binding("r", "restart", "restart"),
        Binding("x", "halt_all", "HALT"),
        Binding("f", "exit_position", "Exit position", show=False),
        Binding("F", "flatten", "Flatten trader", show=False),
        Binding("q", "quit_console", "Quit", show=False),
    ]

    def __init__(self, cfg: Config, *, readonly: bool = False,
                 clock: Callable[[], float] = time.time,
                 loader: Loader | ProcessLoader | None = None,
                 autorefresh: bool = True, startup_note: str | None = None) -> None:
        super().__init__()
        # No animations: the tab underline's slide after each pane switch repainted the
        # screen at 60 fps for 0.3 s (6-7 ms a frame on the UI thread), on top of a refresh.
        self.animation_level = "none"
        self.cfg = cfg
        self.readonly = readonly
        self.clock = clock
        sup = cfg.supervisor
        self.loader = loader or ProcessLoader(
            cfg.store.path, page_rows=cfg.console.page_rows,
            busy_timeout_s=cfg.store.busy_timeout_s, clock=clock,
            stale_after_s=max(sup.heartbeat_s * sup.stale_heartbeats, sup.poll_s * 4),
            logs_dir=cfg.paths.logs)
        self.autorefresh = autorefresh
        self.startup_note = startup_note
        self.snapshot: Snapshot | None = None
        self.filter_text = ""
        self.study_name: str | None = None  # chosen with t / the palette; else the newest
        self.pending: dict[int, CommandRequest] = {}
        # Processes a command of ours started (study-NAME): said when they run or fail.
        self.watched: set[str] = set()
        self._loading = False
        self._drawn: dict[str, tuple[object, ...]] = {}
        self.refreshes = 0
        self.health: Health | None = None
        self._cause = 0  # which cause `!` shows next
        # Which store, always: the console never shows another store without saying so.
        self.sub_title = shown_path(cfg) + ("  (read-only)" if readonly else "")

    # -- layout -----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        yield Static("checking the supervisor and the store…", id="health")
        yield Static("loading…", id="status")
        with TabbedContent(id="panes"):
            for pid, label in PANES:
                with TabPane(label, id=pid):
                    yield self._pane(pid)
        yield Input(placeholder="filter rows (enter to apply, empty to clear)", id="filter",
                    disabled=True)
        # Compact, without the palette hint: every action key fits 80 columns (`?` and
        # ctrl+p list the rest).
        yield Footer(compact=True, show_command_palette=False)

    def _pane(self, pid: str) -> Vertical:
        return {
            "trials": lambda: TrialsPane(id="trials-pane"),
            "gpu": lambda: GpuPane(id="gpu-pane"),
            "processes": lambda: ProcessesPane(id="processes-pane"),
            "positions": lambda: PositionsPane(id="positions-pane"),
            "conviction": lambda: ConvictionPane(id="conviction-pane"),
            "execution": lambda: ExecutionPane(MAKER_TARGET, id="execution-pane"),
            "alerts": lambda: AlertsPane(id="alerts-pane"),
            "trades": lambda: TradesPane(id="trades-pane"),
        }[pid]()

    def on_mount(self) -> None:
        if self.startup_note:
            self.notify(self.startup_note, severity="warning", timeout=10)
        self.call_after_refresh(self._focus_pane)
        self.refresh_data()
        if self.autorefresh:
            self.set_interval(self.cfg.console.refresh_s, self.refresh_data)
            self.set_interval(GC_FULL_S, self._full_gc)

    def on_unmount(self) -> None:
        self.loader.close()

    # -- data -------------------------------------------------------------------------
    def refresh_data(self) -> None:
        if self._loading:
            return  # the previous refresh is still reading; never pile up workers
        self._loading = True
        study = self.study_name
        if study is None and self.snapshot and self.snapshot.study:
            study = self.snapshot.study.name
        self._load(study, tuple(self.pending))

    @work(thread=True, exclusive=True, group="refresh")
    def _load(self, study: str | None, pending: tuple[int, ...]) -> None:
        try:
            snap = self.loader.load(study, pending)
        finally:
            self._loading = False
        deliver(self, self.apply_snapshot, snap)

    def apply_snapshot(self, snap: Snapshot) -> None:
        if not self.is_running:
            return  # closing: the widgets are being removed (a refresh that landed late)
        self.snapshot = snap
        self.refreshes += 1
        with self.batch_update():  # one repaint for the status line and the pane together
            self._render_health(snap)
            self._render_status(snap)
            if snap.error is None:
                self._render_panes(snap)
        self.call_after_refresh(self._freeze_heap)
        self._report_watched(snap)
        for cmd in snap.finished:
            req = self.pending.pop(cmd.id, None)
            what = req.describe() if req else cmd.action
            if cmd.state == "done" and req is not None and req.action == "train":
                self.watched.add(f"study-{req.target}")
            if cmd.state == "done":
                self.notify(f"{what}: {cmd.result or 'done'}", title=f"command #{cmd.id} done")
            else:
                self.notify(f"{what}: {cmd.result or 'failed'}", title=f"command #{cmd.id} failed",
                            severity="error", timeout=15)

    def _report_watched(self, snap: Snapshot) -> None:
        """The outcome of a study the form started: running, finished, or failing and why."""
        for p in snap.processes:
            if p.name not in self.watched:
                continue
            if p.state == "RUNNING":
                self.notify(f"{p.name} is running (pid {p.pid})", title="study started")
            elif p.state in ("BACKOFF", "FATAL") or (p.state == "EXITED" and p.last_error):
                self.notify(f"{p.name} {p.state}: {p.last_error or 'see its log (l)'}",
                            title="study failed", severity="error", timeout=30)
            elif p.state in ("EXITED", "STOPPED"):
                self.notify(f"{p.name} finished", title="study finished")
            else:
                continue
            self.watched.discard(p.name)

    def _render_health(self, snap: Snapshot) -> None:
        h = health(store_path=snap.store_path or str(self.cfg.store.path),
                   store_error=snap.error, sup_alive=snap.sup_alive, sup_pid=snap.sup_pid,
                   sup_age_s=snap.sup_age_s,
                   traders=tuple((t.name, t.trading_state, t.state_reason)
                                 for t in snap.traders),
                   levels=tuple((a.trader, a.level) for a in snap.levels if a.trader),
                   processes=tuple((p.name, p.state) for p in snap.processes))
        if self.health is not None and h.causes != self.health.causes:
            self._cause = 0
        self.health = h
        box = self.query_one("#health", Static)
        box.set_class(not h.ok, "bad")
        set_markup(box, "$health", layout=True, health=h.text)  # paths, reasons: plain text

    def _render_status(self, snap: Snapshot) -> None:
        parts = [f"updated {fmt_clock(snap.at)} UTC"]
        if self.readonly:
            parts.append("READ-ONLY")
        if self.filter_text:
            parts.append(f"filter: {self.filter_text!r}")
        if self.pending:
            parts.append(f"{len(self.pending)} command(s) pending")
        # One fixed line: no layout (a reflow of the whole screen) for a new time stamp.
        # The error names paths and exceptions: plain text, never markup.
        set_markup(self.query_one("#status", Static),
                   "$parts" + ("  ·  [b red]$error[/]" if snap.error else ""), layout=False,
                   parts="  ·  ".join(parts), error=snap.error or "")

    def _render_panes(self, snap: Snapshot, force: bool = False) -> None:
        """Render only the visible pane, and only if its data changed since it last drew.

        Hidden panes catch up when they are shown (on_tabbed_content_tab_activated): one
        refresh then costs one pane's render on the UI thread, not seven.
        """
        pid = self.query_one(TabbedContent).active
        key = self._pane_data(pid, snap)
        if not force and self._drawn.get(pid) == key:
            return
        self._drawn[pid] = key
        self._draw(pid, snap)

    # -- garbage collection -----------------------------------------------------------
    # A full collection walks every live object; with the console's widget tree and a few
    # snapshots that took 20-110 ms on the UI thread, every few refreshes. So after each
    # refresh the heap is frozen (gc.freeze: later collections skip it), and every
    # GC_FULL_S it is unfrozen and collected once. Textual's lines are cyclic garbage (a
    # strip caches itself), kept frozen till then: every 600 s held ~1M objects (~200 MB)
    # and paused 1-3 s on a busy machine; every 60 s, ~100k and 70-450 ms.
    def _freeze_heap(self) -> None:
        import gc

        gc.freeze()

    def _full_gc(self) -> None:
        import gc

        release_styles_caches()  # what Textual still holds of widgets that are gone
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    def _pane_data(self, pid: str, snap: Snapshot) -> tuple[object, ...]:
        f = self.filter_text
        return {
            "trials": lambda: (snap.study, snap.counts, snap.attempts, snap.running),
            "gpu": lambda: (snap.gpus, snap.gpu_history, snap.gpu_procs, snap.system),
            "processes": lambda: (snap.processes,),
            "positions": lambda: (snap.traders, snap.positions, snap.equity),
            "conviction": lambda: (snap.conviction, snap.blocked),
            "execution": lambda: (snap.execution, snap.clocks),
            "alerts": lambda: (snap.traders, snap.levels, snap.gates, snap.alerts, snap.clocks),
            "trades": lambda: (snap.trips, snap.fills, snap.unmatched_exits),
        }[pid]() + (f,)

    def _draw(self, pid: str, snap: Snapshot) -> None:
        f = self.filter_text
        if pid == "trials":
            self.query_one(TrialsPane).update_data(snap.study, snap.counts, snap.attempts,
                                                   snap.running, f)
        elif pid == "gpu":
            s = snap.system
            line = system_line(s.cpu_pct if s else None, s.ram_used_mb if s else None,
                               s.ram_total_mb if s else None, s.disk_used_mb if s else None,
                               s.disk_total_mb if s else None)
            self.query_one(GpuPane).update_data(snap.gpus, snap.gpu_history, snap.gpu_procs,
                                                s.gpu_status if s else None, line, f)
        elif pid == "processes":
            self.query_one(ProcessesPane).update_data(snap.processes, f)
        elif pid == "positions":
            self.query_one(PositionsPane).update_data(snap.traders, snap.positions,
                                                      dict(snap.equity), f)
        elif pid == "conviction":
            self.query_one(ConvictionPane).update_data(snap.conviction, snap.blocked, f)
        elif pid == "execution":
            days = EXECUTION_WINDOW_S / 86400
            label = f"last {days:.0f} days"
            if snap.clocks:  # replay traders' rows are on their own (past) clock
                label += " (replay traders: up to their own clock, " + ", ".join(
                    f"{name} {fmt_stamp(at)}" for name, at in snap.clocks) + ")"
            self.query_one(ExecutionPane).update_data(snap.execution, label, f)
        elif pid == "alerts":
            self.query_one(AlertsPane).update_data(
                [t.name for t in snap.traders], {a.trader: a for a in snap.levels if a.trader},
                {p.trader: p for p in snap.gates if p.trader}, snap.alerts, f,
                dict(snap.clocks))
        elif pid == "trades":
            self.query_one(TradesPane).update_data(snap.trips, snap.fills, f,
                                                   snap.unmatched_exits)

    def on_line_table_detail_requested(self, event: LineTable.DetailRequested) -> None:
        from console.screens.detail import DetailScreen

        if len(self.screen_stack) == 1:
            self.push_screen(DetailScreen(event.title, event.text))

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if self.snapshot is not None and self.snapshot.error is None:
            self._render_panes(self.snapshot)

    # -- key handling -----------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # False hides the binding from the footer and makes the key do nothing.
        if action in MAIN_ACTIONS and len(self.screen_stack) > 1:
            # Another screen (a dialog, the log or the report) is on top: its keys are its
            # own, and x or k must not act on a pane the operator cannot see. ctrl+q (the
            # built-in quit) and each screen's escape still work.
            return False
        return not (self.readonly and action in MUTATING)

    async def action_quit_console(self) -> None:
        await self.action_quit()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if screen is not self.screen_stack[0]:
            return  # the console's own commands act on the main screen's panes: only there
        for i, (pid, label) in enumerate(PANES):
            yield SystemCommand(f"Show {label}", f"switch to pane {i + 1}",
                                lambda p=pid: self.action_pane(p))
        yield SystemCommand("Help", "list the console's keys", self.action_help)
        for name in self.snapshot.studies if self.snapshot else ():
            yield SystemCommand(f"Show study {name}", "trials of this study",
                                lambda n=name: self.show_study(n))
        yield SystemCommand("Logs", "log of the selected process", self.action_logs)
        yield SystemCommand("Report", "day/week/month report of the selected trader, with charts",
                            self.action_report)
        if self.readonly:
            return
        for name, title, help_text in (
                ("start_study", "Start a study", "name, timeframe, trials, GPU"),
                ("promote_paper", "Promote trial to paper", "the selected trial"),
                ("promote_ensemble", "Promote ensemble to paper", "top k trials"),
                ("promote_live", "Promote trader to live", "gates, capital, confirmation"),
                ("capital", "Change capital", "the selected trader"),
                ("stop", "Stop process", "SIGTERM the selected process"),
                ("kill", "Kill process", "SIGKILL the selected process"),
                ("restart", "Restart process", "the selected process"),
                ("halt_all", "HALT all traders", "kill switch"),
                ("exit_position", "Exit position", "sell the selected position to flat"),
                ("flatten", "Flatten trader", "sell every position of the selected trader")):
            yield SystemCommand(title, help_text, getattr(self, f"action_{name}"))

    def action_pane(self, pid: str) -> None:
        self.query_one(TabbedContent).active = pid
        self._focus_pane()

    def _focus_pane(self) -> None:
        """Focus the first table of the active pane, so arrows move its cursor."""
        pid = self.query_one(TabbedContent).active
        tables = self.query_one(f"#{pid}", TabPane).query("DataTable, LineTable")
        if tables:
            tables.first().focus()

    def show_study(self, name: str) -> None:
        self.study_name = name
        self.refresh_data()

    def action_next_study(self) -> None:
        names = self.snapshot.studies if self.snapshot else ()
        if not names:
            return
        current = self.snapshot.study.name if self.snapshot and self.snapshot.study else None
        i = names.index(current) if current in names else -1
        self.show_study(names[(i + 1) % len(names)])
        self.notify(f"study {names[(i + 1) % len(names)]}", timeout=2)

    def action_trouble(self) -> None:
        """`!`: jump to the next cause of the health line (its pane, its row)."""
        causes = self.health.causes if self.health else ()
        if not causes:
            self.notify("Nothing wrong right now.", timeout=3)
            return
        cause = causes[self._cause % len(causes)]
        self._cause += 1
        more = f" ({self._cause % len(causes) or len(causes)}/{len(causes)}; ! for the next)" \
            if len(causes) > 1 else ""
        if cause.pane == "store":
            from console.screens.detail import DetailScreen

            self.push_screen(DetailScreen("The store cannot be read", cause.text))
            return
        self.action_pane(cause.pane)
        if cause.table and cause.key:
            self.query_one(f"#{cause.table}", LineTable).select_key(cause.key)
        self.notify(cause.text + more, severity="error", timeout=8)

    def action_help(self) -> None:
        from console.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.readonly, str(self.cfg.store.path)))

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = self.filter_text
        box.disabled = False
        box.add_class("visible")
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "filter":
            return
        self.filter_text = event.value.strip()
        event.input.remove_class("visible")
        event.input.disabled = True
        self._focus_pane()
        if self.snapshot is not None:
            self._render_status(self.snapshot)
            if self.snapshot.error is None:
                self._render_panes(self.snapshot)


# The actions bound on the main screen (pane keys, flows, q): off while another screen is on
# top (see check_action).
MAIN_ACTIONS = frozenset(b.action.partition("(")[0] for b in CappuccinoApp.BINDINGS
                         if isinstance(b, Binding))


def shown_path(cfg: Config) -> str:
    """The store's path for the header: from the working folder or the config's folder when
    it lies below one of them (short, and the same on every machine), else in full."""
    path = Path(cfg.store.path).absolute()
    bases = [Path.cwd()]
    if cfg.source and not cfg.source.startswith("<"):
        bases.append(Path(cfg.source).absolute().parent)
    for base in bases:
        if path.is_relative_to(base):
            return str(path.relative_to(base))
    return str(path)
