"""The supervisor loop: one per store. Runs children, restarts them by policy, executes commands.

Every `poll_s` it reaps/polls children, escalates pending stops (TERM -> KILL after
`stop_grace_s`, on a monotonic deadline, never blocking), executes pending commands, starts
what is due, rotates logs and writes its heartbeat (kv `supervisor.pid`, `.heartbeat`). About
once a minute it deletes trial worker rows that finished cleanly (exit 0) over `keep_exited_s`
ago, and what [retention] says is old (engine.supervisor.retention). A child of a watched
kind whose beat has not changed for `watchdog_s` (monotonic: a clock step is no silence) is
hung: stopped (TERM, then KILL), restarted by policy (see watchdog).

The `processes` table is the truth for what should run (desired) and what was started
(pid, create_time), not for what may trade: a live trader's row is checked before each
spawn (engine.supervisor.authority.check_spawn). This object only keeps the Popen handles
and stop deadlines, so a supervisor started after another was SIGKILLed adopts every child
whose (pid, create_time) still matches, and starts no duplicate.

SIGTERM/SIGINT make the supervisor exit WITHOUT stopping its children (closing SSH or the
console never stops a trader), though stops under way are finished first; SIGHUP is logged
and otherwise ignored. `cappuccino stop all` stops the children.

A store that refuses writes (disk full) never loses a fact: exits, stops, starts (with their
restart count) and command outcomes are kept and written once it can; a row claiming a
process nobody tracks is settled as at adoption; the outage is no silence. One line a minute.

Known window: a SIGKILL between fork and recording the pid (microseconds): the next
supervisor would not know that child, and would start it again."""

from __future__ import annotations

import logging
import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config import Config
from engine.log_once import OnceLog
from engine.supervisor import authority, logs, policy, retention, services, watchdog
from engine.supervisor.client import KV_HEARTBEAT, KV_PID, SUPERVISOR_LOG
from engine.supervisor.commands import Command
from engine.supervisor.executor import SETTLED, CommandExecutor, Waiter
from engine.supervisor.spawn import (
    describe_exit,
    group_alive,
    group_of,
    kill_leftovers,
    last_log_line,
    log_path,
    own_log_path,
    same_process,
    signal_group,
    spawn,
)
from engine.supervisor.trouble import STORE_TROUBLE, TroubleLog
from store import commands as cmds
from store import kv
from store.commands import CommandRow
from store.db import Store
from store.processes import (
    ProcessRow,
    delete_finished,
    get_process,
    list_processes,
    update_process,
    upsert_process,
)

log = logging.getLogger("cappuccino.supervisor")

PRUNED_KINDS = ("trial",)  # one row per trial: finished ones would pile up in `ps`


@dataclass
class Child:
    pid: int
    create_time: float
    started_at: float
    popen: subprocess.Popen[bytes] | None  # None: adopted from an earlier supervisor
    log_path: Path | None
    restarts: int = 0  # this start's count: a start record written late keeps it


@dataclass
class Stop:
    pgid: int
    deadline: float  # time.monotonic()
    killed: bool  # SIGKILL already sent
    kill_requested: bool  # a kill command, not a stop
    then_start: bool = False
    hung: str = ""  # set by the watchdog: the reason, and "restart by policy when down"
    started_at: float = 0.0  # the child's start, for the policy's uptime
    exit_code: int | None = None
    leader_gone: bool = False
    waiters: list[Waiter] = field(default_factory=list)


class Supervisor(CommandExecutor):
    def __init__(self, cfg: Config, store: Store) -> None:
        self.cfg = cfg
        self.s = cfg.supervisor
        self.store = store
        self.children: dict[str, Child] = {}
        self.stops: dict[str, Stop] = {}
        self.quit = threading.Event()
        self._next_heartbeat = self._next_prune = 0.0  # monotonic: a clock step moves neither
        self.beats = watchdog.Beats()
        self._tick_error = ("", 0.0)
        self._exits: dict[str, tuple[Child, int | None]] = {}  # reaped, not yet recorded
        self._outcomes: list[tuple[int, bool, str]] = []  # command outcomes not yet recorded
        self.trouble = TroubleLog(log, self.s.poll_s)
        self.notify_failures = OnceLog(log, "queueing a notification")
        self._jobs: queue.Queue[tuple[CommandRow, Command]] = queue.Queue()
        self._handler_thread = threading.Thread(target=self._handler_loop, daemon=True,
                                                name="handlers")

    # -- lifecycle ----------------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        # A handler, not SIG_IGN: an ignored signal stays ignored in exec'd children.
        signal.signal(signal.SIGHUP, self._on_hangup)
        log.info("supervising %s (poll %.3gs)", self.store.path, self.s.poll_s)
        self.heartbeat(force=True)
        n = cmds.fail_running(self.store, "interrupted: the supervisor stopped before "
                                          "finishing it; run it again")
        if n:
            log.warning("%d command(s) left running by an earlier supervisor marked failed", n)
        self.adopt()
        self.declare_services()
        self._handler_thread.start()
        while not self.quit.is_set():
            try:
                self.tick()
            except Exception as e:  # one bad tick (busy store, bug) must not end supervision
                self._tick_failed(e)
            self.quit.wait(self.s.poll_s)
        self.shutdown()
        return 0

    def _tick_failed(self, e: Exception) -> None:
        # Not the store's trouble (tick() handles that): the same error once a minute.
        key, t = f"{type(e).__name__}: {e}", time.monotonic()
        if key != self._tick_error[0] or t - self._tick_error[1] > 60:
            log.exception("tick failed")
            self._tick_error = (key, t)

    def _on_hangup(self, _signum: int, _frame: object) -> None:
        log.info("SIGHUP ignored (the terminal went away; supervision goes on)")

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("%s received: exiting; children keep running", signal.Signals(signum).name)
        self.quit.set()

    def shutdown(self) -> None:
        # Finish stops under way (KILL at their deadline): no row is left STOPPING with
        # nobody to settle it (issue 10: `demo stop` SIGTERMed us right after `stop all`).
        deadline = time.monotonic() + self.s.stop_grace_s + 2 * self.s.poll_s + 1
        while self.stops and time.monotonic() < deadline:
            self.trouble.attempt(self.reap)
            self.trouble.attempt(self.advance_stops)
            time.sleep(min(self.s.poll_s, 0.1))
        for st in self.stops.values():
            for w in st.waiters:
                self._finish(w.command_id, False, "the supervisor exited before the outcome; "
                             "the next supervisor completes the stop")
        alive = sorted(self.children)
        log.info("exiting; %d child(ren) left running: %s", len(alive), ", ".join(alive) or "-")

    def tick(self) -> None:
        steps = (self._record_outcomes, self.reap, self.advance_stops, self.run_commands,
                 self.reconcile, self.rotate_logs, self.prune_finished, self.heartbeat)
        if not all([self.trouble.attempt(s) for s in steps]):  # each runs, refused or not
            self.beats.restart()  # nobody could beat: the outage is no silence (watchdog)

    # -- startup --------------------------------------------------------------------------
    def adopt(self) -> None:
        """Take over children of an earlier supervisor; settle rows whose process died."""
        for row in list_processes(self.store):
            self._adopt_row(row)

    def _adopt_row(self, row: ProcessRow, gone: str = "ended while no supervisor ran") -> None:
        if row.pid and same_process(row.pid, row.create_time, row.name):
            self.children[row.name] = Child(
                row.pid, float(row.create_time or 0), row.started_at or time.time(), None,
                own_log_path(self.cfg, row.name, row.log_path), row.restarts)
            log.info("adopted %s (pid %d)", row.name, row.pid)
            if row.state == "STOPPING":
                update_process(self.store, row.name, state="RUNNING")
        elif row.pid:
            child = Child(row.pid, float(row.create_time or 0), row.started_at or time.time(),
                          None, own_log_path(self.cfg, row.name, row.log_path), row.restarts)
            log.info("%s (pid %d) %s", row.name, row.pid, gone)
            self.on_exit(row.name, child, None)
        elif row.state in ("RUNNING", "STOPPING"):
            update_process(self.store, row.name,
                           state="STARTING" if row.desired == "running" else "STOPPED")

    def declare_services(self) -> None:
        for name in self.s.services:
            svc = services.service(name)
            if svc is None:
                continue
            row = get_process(self.store, name)
            if row is None:
                upsert_process(self.store, svc.name, svc.kind, list(svc.argv), "running")
            elif row.state == "FATAL" and row.desired == "running":
                update_process(self.store, name, state="STARTING", quick_restarts=0,
                               next_start_at=None)

    # -- children -------------------------------------------------------------------------
    def reap(self) -> None:
        """Collect exits: Popen.poll for our own children (no zombies), psutil for adopted."""
        for name, child in list(self.children.items()):
            if child.popen is not None:
                code = child.popen.poll()
                if code is None:
                    continue
            elif same_process(child.pid, child.create_time):
                continue
            else:
                code = None
            del self.children[name]
            if child.popen is not None and name not in self.stops:
                # Only for a leader we just reaped: the group id cannot have been reused yet.
                # An adopted one may have died long ago (a reboot), its pid now someone else's.
                kill_leftovers(child.pid)
            self._exits[name] = (child, code)
        self._record_exits()

    def _record_exits(self) -> None:
        """Record reaped exits; what the store refuses now is kept for the next tick."""
        for name, (child, code) in list(self._exits.items()):
            what = f"cannot record that {name} {describe_exit(code)}"
            try:
                self.on_exit(name, child, code)
            except STORE_TROUBLE as e:
                self.trouble.failed(what, e)
                return
            del self._exits[name]
            self.trouble.recovered(what)

    def on_exit(self, name: str, child: Child, code: int | None) -> None:
        t = time.time()
        st = self.stops.get(name)
        if st is not None:  # an expected exit: advance_stops settles it once the group is gone
            st.exit_code, st.leader_gone = code, True
            return
        row = get_process(self.store, name)
        if row is None:
            return
        why = describe_exit(code)
        if row.desired == "stopped":
            update_process(self.store, name, state="STOPPED", pid=None, create_time=None,
                           exit_code=code, stopped_at=t, restarts=child.restarts)
            return
        d = policy.decide(self.s, row.kind, code, t - child.started_at, row.quick_restarts)
        tail = last_log_line(child.log_path) if code != 0 else ""
        error = None if (d.state == "EXITED" and code == 0) else (f"{why}: {tail}" if tail
                                                                    else why)
        update_process(self.store, name, state=d.state, pid=None, create_time=None,
                       exit_code=code, stopped_at=t, last_error=error,
                       quick_restarts=d.quick_restarts, restarts=child.restarts,
                       next_start_at=t + d.delay_s if d.state == "BACKOFF" else None)
        log.info("%s %s -> %s (%s)", name, why, d.state, d.reason)
        if d.state == "FATAL":
            self.notify(f"{name} is FATAL", f"{why}; {d.reason}. Not restarting: "
                        f"`cappuccino start {name}` to try again.", "failure")
        elif d.state == "BACKOFF":
            self.notify(f"{name} restarting", f"{why}; {d.reason}.", "warning")
        elif code == 0:
            self.notify(f"{name} finished", why, "success")
        else:
            self.notify(f"{name} ended", f"{why}; {d.reason}.", "info")

    def start_child(self, name: str, row: ProcessRow) -> Child | None:
        """Spawn the row's process now; on exec failure apply the restart policy."""
        t = time.time()
        if not authority.may_spawn(self.cfg, self.store, name, row.kind, row.args):
            return None  # whoever wrote the row: a live trader starts only as `trade` would
        try:
            sp = spawn(self.cfg, name, row.kind, row.args)
        except OSError as e:
            d = policy.decide(self.s, row.kind, 127, 0.0, row.quick_restarts)
            argv0 = row.args[0] if row.args else "?"
            update_process(self.store, name, state=d.state, pid=None, exit_code=None,
                           last_error=f"cannot start {argv0}: {e.strerror or e}",
                           quick_restarts=d.quick_restarts,
                           next_start_at=t + d.delay_s if d.state == "BACKOFF" else None)
            log.warning("%s: cannot start %s: %s -> %s", name, argv0, e, d.state)
            if d.state == "FATAL":
                self.notify(f"{name} is FATAL", f"cannot start: {e.strerror or e}", "failure")
            return None
        restarts = row.restarts + (1 if row.started_at is not None else 0)
        child = Child(sp.pid, sp.create_time, t, sp.popen, sp.log_path, restarts)
        self.children[name] = child
        log.info("started %s (pid %d): %s", name, sp.pid, row.args)  # recorded or not
        update_process(self.store, name, state="STARTING", pid=sp.pid,
                       create_time=sp.create_time, started_at=t, stopped_at=None,
                       exit_code=None, log_path=str(sp.log_path), next_start_at=None,
                       restarts=restarts)
        return child

    def reconcile(self) -> None:
        """Make each row's state follow its desired state."""
        t = time.time()
        for row in list_processes(self.store):
            name = row.name
            if name in self.stops or name in self._exits:
                continue
            child = self.children.get(name)
            if child is None and row.pid:
                # A row that claims a process nobody tracks (a record that was lost): settle
                # it as at adoption, so the policy and the watchdog act on it again.
                self._adopt_row(row, "ended; its exit had not been recorded")
                continue
            if row.desired != "running":
                if child is not None:
                    self.begin_stop(name, kill=False)
                elif row.state not in SETTLED:
                    update_process(self.store, name, state="STOPPED", pid=None,
                                   next_start_at=None)
                continue
            if child is not None:
                silent = self.beats.overdue(self.s, row.kind, name, child.pid,
                                            row.heartbeat_at)
                if silent is not None:
                    self.stop_hung(name, silent)
                    continue
                fields: dict[str, Any] = {}
                if row.state != "RUNNING":
                    fields["state"] = "RUNNING"
                if row.pid != child.pid:  # its start could not be recorded then
                    fields.update(pid=child.pid, create_time=child.create_time,
                                  started_at=child.started_at, stopped_at=None, exit_code=None,
                                  log_path=str(child.log_path) if child.log_path else None,
                                  next_start_at=None, restarts=child.restarts)
                if row.quick_restarts and t - child.started_at >= self.s.stable_uptime_s:
                    fields["quick_restarts"] = 0
                if fields:
                    update_process(self.store, name, **fields)
            elif row.state == "STARTING" or (row.state == "BACKOFF"
                                             and policy.start_due(self.s, row.next_start_at, t)):
                self.start_child(name, row)
        self.beats.keep(self.children)

    # -- stopping -------------------------------------------------------------------------
    def stop_hung(self, name: str, silent: float) -> None:
        """The watchdog's stop: TERM (KILL after grace); the policy restarts it when down."""
        why = watchdog.reason(silent)
        update_process(self.store, name, last_error=why)
        log.warning("%s: %s (watchdog_s %g): stopping it to restart", name, why,
                    self.s.watchdog_s)
        if self.begin_stop(name, kill=False):
            self.stops[name].hung = why
        self.notify(f"{name} hung", f"{why} (watchdog_s = {self.s.watchdog_s:g}); stopping "
                    f"it (SIGTERM, SIGKILL after {self.s.stop_grace_s:g}s) to restart it.",
                    "warning")

    def begin_stop(self, name: str, *, kill: bool, then_start: bool = False,
                   waiter: Waiter | None = None) -> bool:
        """TERM (or KILL) the child's group; False when it is not running."""
        st = self.stops.get(name)
        if st is not None:
            if waiter:
                st.waiters.append(waiter)
            st.then_start = then_start
            if kill and not st.killed:
                signal_group(st.pgid, signal.SIGKILL)
                st.killed = st.kill_requested = True
            return True
        child = self.children.get(name)
        if child is None:
            return False
        pgid = group_of(child.pid)
        signal_group(pgid, signal.SIGKILL if kill else signal.SIGTERM)
        self.stops[name] = Stop(pgid, time.monotonic() + self.s.stop_grace_s, killed=kill,
                                kill_requested=kill, then_start=then_start,
                                started_at=child.started_at,
                                waiters=[waiter] if waiter else [])
        update_process(self.store, name, state="STOPPING")
        log.info("%s %s (group %d)", "killing" if kill else "stopping", name, pgid)
        return True

    def advance_stops(self) -> None:
        t = time.monotonic()  # the grace is real seconds, whatever the wall clock does
        for name, st in list(self.stops.items()):
            if st.leader_gone and not group_alive(st.pgid):
                self.finish_stop(name, st)
            elif t >= st.deadline and not st.killed:
                log.warning("%s ignored SIGTERM for %.3gs: SIGKILL to group %d", name,
                            self.s.stop_grace_s, st.pgid)
                signal_group(st.pgid, signal.SIGKILL)
                st.killed = True

    def finish_stop(self, name: str, st: Stop) -> None:
        # Settled only once the row says so: a store that refuses the write keeps the stop
        # for the next tick (issue 10: rows left STOPPING after the supervisor acted).
        if st.hung and not st.then_start and not st.waiters and self.restart_hung(name, st):
            del self.stops[name]
            return
        if st.kill_requested:
            how = f"killed {name}"
        elif st.killed:
            how = f"killed {name} after {self.s.stop_grace_s:g}s grace (ignored SIGTERM)"
        else:
            how = f"stopped {name}"
        update_process(self.store, name, state="STOPPED", pid=None, create_time=None,
                       exit_code=st.exit_code, stopped_at=time.time(), next_start_at=None)
        del self.stops[name]
        log.info(how)
        ok, result = True, how
        if st.then_start:
            try:
                row = get_process(self.store, name)
                if row is not None and row.desired == "running":
                    child = self.start_child(name, row)
                    ok = child is not None
                    result = (f"restarted {name} (pid {child.pid})" if child
                              else f"{how}; restart failed: {self._last_error(name)}")
            except STORE_TROUBLE as e:  # started or not, reconcile records it next tick
                child = self.children.get(name)
                ok = child is not None
                result = (f"restarted {name} (pid {child.pid})" if child
                          else f"{how}; restart not recorded: {e}")
        for w in st.waiters:
            w.pending.discard(name)
            w.results.append(result)
            w.ok = w.ok and ok
            if not w.pending:
                self._finish(w.command_id, w.ok, "; ".join(w.results))

    def restart_hung(self, name: str, st: Stop) -> bool:
        """Settle a child the watchdog stopped by the restart policy; False when the operator
        stopped it meanwhile (the ordinary stop outcome applies)."""
        row = get_process(self.store, name)
        if row is None or row.desired != "running":
            return False
        t = time.time()
        # Hung is a failure even when the child exited 0 on TERM: a job must not read as done.
        code = st.exit_code if st.exit_code not in (0, None) else -int(signal.SIGTERM)
        d = policy.decide(self.s, row.kind, code, t - st.started_at, row.quick_restarts)
        error = st.hung + ("; ignored SIGTERM, killed" if st.killed else "")
        update_process(self.store, name, state=d.state, pid=None, create_time=None,
                       exit_code=st.exit_code, stopped_at=t, last_error=error,
                       quick_restarts=d.quick_restarts,
                       next_start_at=t + d.delay_s if d.state == "BACKOFF" else None)
        log.info("%s stopped by the watchdog -> %s (%s)", name, d.state, d.reason)
        if d.state == "FATAL":
            self.notify(f"{name} is FATAL", f"{error}; {d.reason}. Not restarting: "
                        f"`cappuccino start {name}` to try again.", "failure")
        return True

    # -- housekeeping ---------------------------------------------------------------------
    def rotate_logs(self) -> None:
        paths = [c.log_path for c in self.children.values() if c.log_path]
        paths.append(Path(self.cfg.paths.logs) / SUPERVISOR_LOG)
        for p in paths:
            try:
                if logs.rotate_if_needed(p, self.s.log_max_bytes, self.s.log_backups):
                    log.info("rotated %s", p)
            except OSError as e:
                log.warning("cannot rotate %s: %s", p, e)

    def prune_finished(self, force: bool = False) -> list[str]:
        """Delete finished trial worker rows older than keep_exited_s (FATAL/failed stay)."""
        t, m = time.time(), time.monotonic()
        if not force and m < self._next_prune:
            return []
        self._next_prune = m + self.cfg.retention.every_s
        names = delete_finished(self.store, PRUNED_KINDS, t - self.s.keep_exited_s)
        retention.run(self.cfg, self.store, t, [c.log_path for c in self.children.values()])
        if names:
            log.info("removed %d finished trial row(s) older than %gs: %s", len(names),
                     self.s.keep_exited_s, ", ".join(names[:10])
                     + (" ..." if len(names) > 10 else ""))
        return names

    def heartbeat(self, force: bool = False) -> None:
        t, m = time.time(), time.monotonic()
        if not force and m < self._next_heartbeat:
            return
        self._next_heartbeat = m + self.s.heartbeat_s
        kv.put_many(self.store, {KV_PID: str(os.getpid()), KV_HEARTBEAT: repr(t)}, t)

    def notify(self, title: str, body: str, level: str) -> None:
        from engine.notify.events import emit

        # a notification must never break supervision; a failing one is still logged
        with self.notify_failures.logged(title):
            emit(self.store, self.cfg, "process", title, body, level)


def default_log_path(cfg: Config, name: str) -> Path:
    return Path(cfg.paths.logs) / SUPERVISOR_LOG if name == "supervisor" else log_path(cfg, name)
