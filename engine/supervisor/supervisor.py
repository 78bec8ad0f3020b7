"""The supervisor loop: one per store. Runs children, restarts them by policy, executes commands.

Every `poll_s` it reaps/polls children, escalates pending stops (TERM -> KILL after
`stop_grace_s`, on a monotonic deadline, never blocking), executes pending commands, starts
what is due, rotates logs and writes its heartbeat (kv `supervisor.pid`, `.heartbeat`). About
once a minute it deletes trial worker rows that finished cleanly (exit 0) over `keep_exited_s`
ago, and what [retention] says is old (engine.supervisor.retention). A child of a watched
kind whose beat has not changed for `watchdog_s` (monotonic: a clock step is no silence) is
hung: stopped (TERM, then KILL), restarted by policy (see watchdog).

The `processes` table is the truth for what should run (desired) and what was started
(pid, create_time), not for what may trade: a trader's row is checked before each
spawn (engine.supervisor.authority.check_spawn). This object only keeps the Popen handles
and stop deadlines, so a supervisor started after another was SIGKILLed adopts every child
whose (pid, create_time) still matches, and starts no duplicate.

SIGTERM/SIGINT make the supervisor exit WITHOUT stopping its children (closing SSH or the
console never stops a trader), though stops under way are finished first; SIGHUP is logged
and otherwise ignored. `cappuccino stop all` stops the children.

A store that refuses writes (disk full) never loses a fact: exits, stops, starts (with their
restart count) and command outcomes are kept and written once it can; a row claiming a
process nobody tracks is settled as at adoption; the outage is no silence. One line a minute.

A store whose file is deleted or replaced under it ends supervision: every child is
stopped and the supervisor exits 1 (engine.supervisor.lost).

Known window: a SIGKILL between fork and recording the pid (microseconds): the next
supervisor would not know that child, and would start it again."""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
from pathlib import Path
from typing import Any

from engine.config import Config
from engine.log_once import OnceLog
from engine.supervisor import logs, policy, retention, watchdog
from engine.supervisor.children import Child, Children
from engine.supervisor.client import KV_HEARTBEAT, KV_PID, SUPERVISOR_LOG
from engine.supervisor.commands import Command
from engine.supervisor.executor import SETTLED, CommandExecutor
from engine.supervisor.lost import Abandoning, StoreWatch
from engine.supervisor.spawn import log_path
from engine.supervisor.stopping import Stop, Stopping
from engine.supervisor.trouble import TroubleLog
from store import commands as cmds
from store import kv
from store.commands import CommandRow
from store.db import Store
from store.processes import delete_finished, list_processes, update_process

__all__ = ["Child", "Stop", "Supervisor", "default_log_path"]  # Child, Stop: moved, kept here

log = logging.getLogger("cappuccino.supervisor")

PRUNED_KINDS = ("trial",)  # one row per trial: finished ones would pile up in `ps`


class Supervisor(Children, Stopping, CommandExecutor, Abandoning):
    """One per store: the loop (tick), reconcile, housekeeping; the start path is
    engine.supervisor.children, the stop path engine.supervisor.stopping, the command path
    engine.supervisor.executor, a lost store engine.supervisor.lost."""

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
        self.watch = StoreWatch(store)
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
            lost = self.watch.lost()
            if lost:
                return self.abandon(lost)
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
