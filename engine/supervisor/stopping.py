"""The supervisor's stop path: TERM (KILL after `stop_grace_s`), settle, restart if asked.

Stops never block the loop: each has a monotonic deadline (a wall-clock step moves no
grace), and is settled once its whole process group is gone. A child the watchdog stopped
is settled by the restart policy (hung is a failure), unless the operator stopped it
meanwhile. A stop is settled only once its row says so: a store that refuses the write
keeps the stop for the next tick.
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.config.schema import SupervisorSection
from engine.supervisor import policy, watchdog
from engine.supervisor.executor import Waiter
from engine.supervisor.spawn import group_alive, group_of, signal_group
from engine.supervisor.trouble import STORE_TROUBLE
from store.db import Store
from store.processes import ProcessRow, get_process, update_process

if TYPE_CHECKING:
    from engine.supervisor.children import Child

log = logging.getLogger("cappuccino.supervisor")


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



class Stopping:
    """Mixed into Supervisor: stopping children (commands and the watchdog)."""

    s: SupervisorSection
    store: Store
    children: dict[str, Child]
    stops: dict[str, Stop]

    if TYPE_CHECKING:  # the Supervisor's and its other mixins' own
        def start_child(self, name: str, row: ProcessRow) -> Child | None: ...
        def notify(self, title: str, body: str, level: str) -> None: ...
        def _finish(self, command_id: int, ok: bool, result: str) -> None: ...
        def _last_error(self, name: str) -> str: ...

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
