"""The supervisor's command path: claim rows, type them, check the gates, then act.

Each claimed row goes through `engine.supervisor.commands.parse` (closed set of actions,
strict schemas) and, for a trader start, a promotion or a capital change, through
`engine.supervisor.authority` (the engine.promote gates re-evaluated here, whatever the
row says). A refused row is recorded (outcome, alert, notification) and nothing starts.
Process commands run on the supervisor's thread; promote/capital/halt/resume run on the
handler thread with their own store connection, so a slow promotion never delays restarts.
"""

from __future__ import annotations

import logging
import queue
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.config import Config
from engine.runtime import open_store
from engine.supervisor import authority, handlers, services
from engine.supervisor.commands import (
    CapitalChange,
    Command,
    Declares,
    Promote,
    Refused,
    StartExisting,
    Trade,
    Train,
    parse,
)
from engine.supervisor.spawn import valid_name
from engine.supervisor.trouble import STORE_TROUBLE, TroubleLog
from store import commands as cmds
from store.commands import CommandRow
from store.db import Store
from store.processes import ProcessRow, get_process, list_processes, update_process, upsert_process

if TYPE_CHECKING:
    from engine.supervisor.children import Child
    from engine.supervisor.stopping import Stop

log = logging.getLogger("cappuccino.supervisor")

PROCESS_ACTIONS = ("start", "stop", "restart", "kill", "train", "trade")
SETTLED = ("STOPPED", "EXITED", "FATAL")
# engine.promote's refusals and bad requests: recorded there, no traceback needed here.
EXPECTED = ("PromotionRefused", "PromotionError")

IDLE_NAMED = 5  # processes a stop names one by one before it counts them


class CommandFailed(Exception):
    """A command that cannot be carried out; the message is the result text."""


@dataclass
class Waiter:
    """A command whose outcome depends on processes settling (stop, kill, restart)."""

    command_id: int
    pending: set[str]
    results: list[str] = field(default_factory=list)
    ok: bool = True


class CommandExecutor:
    """Mixed into Supervisor: everything between a `commands` row and an action."""

    cfg: Config
    store: Store
    children: dict[str, Child]
    stops: dict[str, Stop]
    _jobs: queue.Queue[tuple[CommandRow, Command]]
    _outcomes: list[tuple[int, bool, str]]  # command outcomes not yet recorded (disk full)
    trouble: TroubleLog

    # Supervisor's own (the process side):
    def begin_stop(self, name: str, *, kill: bool, then_start: bool = False,
                   waiter: Waiter | None = None) -> bool:
        raise NotImplementedError

    def start_child(self, name: str, row: ProcessRow) -> Child | None:
        raise NotImplementedError

    def run_commands(self) -> None:
        for c in cmds.claim_pending(self.store):
            # Never the args: they are unchecked yet, and a value could be a pasted secret.
            log.info("%s", authority.redact(self.cfg, f"command #{c.id} {str(c.action)[:20]} "
                     f"{str(c.target or '')[:64]} (claimed source {str(c.source)[:20]})"))
            try:
                typed = parse(self.cfg, c.id, c.action, c.target, c.args)
            except Refused as e:
                authority.record_refusal(self.cfg, self.store, c.id, c.action, c.source, str(e))
                continue
            if typed.action not in PROCESS_ACTIONS:
                self._jobs.put((c, typed))
                continue
            try:
                result = getattr(self, f"cmd_{typed.action}")(typed)
            except Refused as e:
                authority.record_refusal(self.cfg, self.store, c.id, c.action, c.source, str(e))
            except CommandFailed as e:
                self._finish(c.id, False, str(e))
            except Exception as e:
                log.exception("command #%d failed", c.id)
                self._finish(c.id, False, f"{type(e).__name__}: {e}".splitlines()[0])
            else:
                if result is not None:
                    self._finish(c.id, True, result)

    def _finish(self, command_id: int, ok: bool, result: str) -> None:
        result = authority.redact(self.cfg, result)  # a target may be a pasted secret
        log.info("command #%d %s: %s", command_id, "done" if ok else "failed", result)
        self._outcomes.append((command_id, ok, result))
        self._record_outcomes()

    def _record_outcomes(self) -> None:
        """Write command outcomes; those the store refuses now wait for the next tick."""
        while self._outcomes:
            command_id, ok, result = self._outcomes[0]
            what = f"cannot record the outcome of command #{command_id}"
            try:
                cmds.finish_command(self.store, command_id, ok, result)
            except STORE_TROUBLE as e:
                self.trouble.failed(what, e)
                return
            self._outcomes.pop(0)
            self.trouble.recovered(what)

    def _row(self, name: str | None) -> ProcessRow:
        if not name:
            raise CommandFailed("this command needs a process name")
        row = get_process(self.store, name)
        if row is None:
            raise CommandFailed(f"no process named {name}")
        return row

    def _last_error(self, name: str) -> str:
        row = get_process(self.store, name)
        return (row.last_error or row.state) if row else "gone"

    def _declare(self, name: str, kind: str, argv: list[str]) -> None:
        if not valid_name(name):
            raise Refused(f"bad process name (letters, digits, . _ - only; at most 64): "
                          f"{kind} {argv[0]}")
        upsert_process(self.store, name, kind, argv, "running")

    def _start(self, name: str) -> str:
        row = self._row(name)
        if row.kind == "trader" and "--live" in row.args:  # a start again is a start
            authority.check_live(self.cfg, f"start {name}")
        child = self.children.get(name)
        if child is not None:
            if name in self.stops:  # stopping: start again once it is down
                update_process(self.store, name, desired="running")
                self.stops[name].then_start = True
                return f"{name} is stopping; it will start again when down"
            update_process(self.store, name, desired="running")
            return f"{name} is already running (pid {child.pid})"
        update_process(self.store, name, desired="running", state="STARTING",
                       quick_restarts=0, next_start_at=None)
        row = self._row(name)
        started = self.start_child(name, row)
        if started is None:
            raise CommandFailed(f"cannot start {name}: {self._last_error(name)}")
        return f"started {name} (pid {started.pid})"

    def cmd_start(self, c: Command) -> str:
        name = c.target or ""
        if not isinstance(c.args, StartExisting):
            if not isinstance(c.args, Declares):
                raise CommandFailed(f"start: {type(c.args).__name__} declares no process")
            kind, argv = c.args.process()
            self._declare(name, kind, argv)
        elif get_process(self.store, name) is None:
            svc = services.service(name)
            if svc is not None:
                upsert_process(self.store, svc.name, svc.kind, list(svc.argv), "running")
        return self._start(name)

    def _targets(self, target: str | None) -> list[ProcessRow]:
        if target == "all":
            return [r for r in list_processes(self.store)
                    if r.desired == "running" or r.name in self.children]
        return [self._row(target)]

    def _stop(self, c: Command, *, kill: bool) -> str | None:
        rows = self._targets(c.target)
        if not rows:
            return "nothing to stop"
        waiter = Waiter(c.id, set())
        idle: list[str] = []
        for row in rows:
            update_process(self.store, row.name, desired="stopped")
            if row.name in self.children:
                waiter.pending.add(row.name)
                self.begin_stop(row.name, kill=kill, waiter=waiter)
            else:
                if row.state not in SETTLED:
                    update_process(self.store, row.name, state="STOPPED", next_start_at=None)
                idle.append(row.name)
        # `stop all` after a day of studies: thousands of finished trials, named in one count
        done = ([f"{n} was not running" for n in idle] if len(idle) <= IDLE_NAMED else
                [f"{len(idle)} were not running ({', '.join(idle[:IDLE_NAMED])}, ...)"])
        waiter.results.extend(done)
        return None if waiter.pending else "; ".join(done)

    def cmd_stop(self, c: Command) -> str | None:
        return self._stop(c, kill=False)

    def cmd_kill(self, c: Command) -> str | None:
        return self._stop(c, kill=True)

    def cmd_restart(self, c: Command) -> str | None:
        row = self._row(c.target)
        update_process(self.store, row.name, desired="running", quick_restarts=0)
        if row.name in self.children:
            self.begin_stop(row.name, kill=False, then_start=True,
                            waiter=Waiter(c.id, {row.name}))
            return None
        return self._start(row.name)

    def cmd_train(self, c: Command) -> str:
        from engine.study.request import TrainArgsError, train_request

        a = c.args
        assert isinstance(a, Train)
        try:  # the checks the CLI's `train` and the console's form make
            req = train_request(a.study or self.cfg.study.name,
                                a.timeframe or self.cfg.data.timeframe,
                                a.n_trials or self.cfg.study.n_trials,
                                device=a.device, gpu=a.gpu, workers=a.workers)
        except TrainArgsError as e:
            raise Refused(f"train: {e}") from None
        name, argv = f"study-{req.study}", req.argv()
        if name in self.children:
            raise CommandFailed(f"{name} is already running (pid {self.children[name].pid})")
        self._declare(name, "study", argv)
        return self._start(name)

    def cmd_trade(self, c: Command) -> str:
        t = c.args
        assert isinstance(t, Trade)
        name = t.process_name
        if name in self.children:
            raise CommandFailed(f"{name} is already running (pid {self.children[name].pid})")
        authority.check_trade(self.cfg, self.store, t)
        self._declare(name, "trader", t.argv())
        return self._start(name)

    def _handler_loop(self) -> None:
        """Non-process commands run here, on their own store connection."""
        store: Store | None = None
        while True:
            c, typed = self._jobs.get()
            refused = False
            try:
                if store is None:
                    store = open_store(self.cfg)
                if isinstance(typed.args, Promote):
                    authority.check_promote(self.cfg, store, typed.args)
                elif isinstance(typed.args, CapitalChange):
                    authority.check_capital(self.cfg, store, typed.args, typed.target)
                result = handlers.run_handler(self.cfg, store, c)
                ok = True
            except Refused as e:
                refused, result = True, str(e)
            except handlers.NotAvailable as e:
                ok, result = False, str(e)
            except Exception as e:
                if type(e).__name__ not in EXPECTED:  # a gate refusal is not a bug
                    log.exception("command #%d (%s) failed", c.id, c.action)
                ok, result = False, f"{type(e).__name__}: {e}".splitlines()[0]
            try:
                if refused:
                    authority.record_refusal(self.cfg, store or open_store(self.cfg), c.id,
                                             c.action, c.source, result)
                    continue
                result = authority.redact(self.cfg, result)
                cmds.finish_command(store or open_store(self.cfg), c.id, ok, result)
                log.info("command #%d %s: %s", c.id, "done" if ok else "failed", result)
            except Exception:
                log.exception("cannot record the outcome of command #%d", c.id)
