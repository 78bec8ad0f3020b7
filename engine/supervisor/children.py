"""The supervisor's start path: adopt what an earlier supervisor started, start rows, record exits.

A row's process is started only after `engine.supervisor.authority.may_spawn` (whoever wrote
the row). Exits are reaped (Popen.poll for our own children, psutil for adopted ones) and
recorded by the restart policy; an exit the store refuses to record (disk full) is kept in
`_exits` and written on a later tick, so no fact is lost.
"""

from __future__ import annotations

import logging
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.config import Config
from engine.config.schema import SupervisorSection
from engine.supervisor import authority, policy, services
from engine.supervisor.spawn import (
    describe_exit,
    kill_leftovers,
    last_log_line,
    own_log_path,
    same_process,
    spawn,
)
from engine.supervisor.trouble import STORE_TROUBLE, TroubleLog
from store.db import Store
from store.processes import (
    ProcessRow,
    get_process,
    list_processes,
    update_process,
    upsert_process,
)

if TYPE_CHECKING:
    from engine.supervisor.stopping import Stop

log = logging.getLogger("cappuccino.supervisor")


@dataclass
class Child:
    pid: int
    create_time: float
    started_at: float
    popen: subprocess.Popen[bytes] | None  # None: adopted from an earlier supervisor
    log_path: Path | None
    restarts: int = 0  # this start's count: a start record written late keeps it



class Children:
    """Mixed into Supervisor: starting, adopting and reaping its children."""

    cfg: Config
    s: SupervisorSection
    store: Store
    children: dict[str, Child]
    stops: dict[str, Stop]
    _exits: dict[str, tuple[Child, int | None]]  # reaped, not yet recorded
    trouble: TroubleLog

    if TYPE_CHECKING:  # the Supervisor's own
        def notify(self, title: str, body: str, level: str) -> None: ...

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
