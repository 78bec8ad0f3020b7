"""A store whose file is gone: the supervisor stops every child and exits 1.

The supervisor's connection keeps the file it opened. Once the store's path names no file
(`rm -rf` of its folder) or another file (a store copied or restored over it), whatever it
and its traders write goes to a file nobody reads: `ps`, `status` and the console no longer
see them, and a trader whose orders and fills go nowhere is money flying blind. Nor can a
later supervisor adopt them: its store (new, or the other one) has no row for them, so left
running they would trade unseen forever. So: one CRITICAL line, a notification if the store
still takes it, every child stopped the normal way (SIGTERM to its group, SIGKILL after
`stop_grace_s`), exit 1.

Only a path that names no file or another file counts (a stat, never an open: no lock is
lost); a failing stat (EIO, EACCES), a full disk or a locked store are no proof and keep
their own handling. It must be seen on two checks at least CONFIRM_S apart.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.supervisor.spawn import group_alive, signal_group
from engine.supervisor.trouble import STORE_TROUBLE, TroubleLog
from store.db import Store

if TYPE_CHECKING:
    from engine.config.schema import SupervisorSection
    from engine.supervisor.children import Child
    from engine.supervisor.stopping import Stop

log = logging.getLogger("cappuccino.supervisor")

CONFIRM_S = 1.0
EXIT_STORE_LOST = 1
EXTRA_WAIT_S = 5.0  # after the SIGKILLs: for the kernel to take the groups down


class StoreWatch:
    """Whether the store's file is gone, confirmed on a second check CONFIRM_S later."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self._clock = clock
        self._since: float | None = None

    def lost(self) -> str | None:
        why = self.store.file_lost()
        if why is None:
            self._since = None
            return None
        now = self._clock()
        if self._since is None:
            self._since = now
            return None
        return why if now - self._since >= CONFIRM_S else None


class Abandoning:
    """Mixed into Supervisor: the store is gone; stop every child, then exit."""

    s: SupervisorSection
    store: Store
    children: dict[str, Child]
    stops: dict[str, Stop]
    trouble: TroubleLog

    if TYPE_CHECKING:  # the Supervisor's and its other mixins' own
        def begin_stop(self, name: str, *, kill: bool, then_start: bool = False) -> bool: ...
        def reap(self) -> None: ...
        def notify(self, title: str, body: str, level: str) -> None: ...

    def abandon(self, why: str) -> int:
        names = sorted(self.children)
        log.critical("the store %s was %s (this supervisor's writes go nowhere): stopping "
                     "%d child(ren) (%s) and exiting", self.store.path, why, len(names),
                     ", ".join(names) or "-")
        self.notify("supervisor stopped: store gone",
                    f"{self.store.path} was {why}; stopped {', '.join(names) or 'nothing'} "
                    "and exited.", "failure")
        for name in names:
            # a refused row write comes after the group was signalled: the stop is under way
            with contextlib.suppress(*STORE_TROUBLE):
                self.begin_stop(name, kill=False)
        kill_at = time.monotonic() + self.s.stop_grace_s
        end, killed = kill_at + EXTRA_WAIT_S, False
        while True:
            self.trouble.attempt(self.reap)  # our own children: no zombie left
            alive = sorted(n for n, st in self.stops.items() if group_alive(st.pgid))
            t = time.monotonic()
            if not alive or t >= end:
                break
            if t >= kill_at and not killed:
                log.warning("SIGKILL to %s (ignored SIGTERM for %gs)", ", ".join(alive),
                            self.s.stop_grace_s)
                for n in alive:
                    signal_group(self.stops[n].pgid, signal.SIGKILL)
                killed = True
            time.sleep(min(self.s.poll_s, 0.1))
        if alive:
            log.critical("exiting; still alive after SIGKILL: %s", ", ".join(alive))
        else:
            log.critical("exiting: every child stopped (store %s)", why)
        return EXIT_STORE_LOST
