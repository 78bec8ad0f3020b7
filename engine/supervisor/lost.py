"""A store whose file is gone: the supervisor stops every child and exits 1.

The supervisor's connection keeps the file it opened. Once the store's path names no file
(`rm -rf` of its folder) or another file (a store copied or restored over it), whatever it
and its traders write goes to a file nobody reads: `ps`, `status` and the console no longer
see them, and a trader whose orders and fills go nowhere is money flying blind. Nor can a
later supervisor adopt them: its store (new, or the other one) has no row for them, so left
running they would trade unseen forever. So: one CRITICAL line, every child but the
notifier stopped the normal way (SIGTERM to its group, SIGKILL after `stop_grace_s`), then
the notifier once it has sent the alert (it still reads the file we queued it in) or
NOTIFY_WAIT_S passed, exit 1.

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
from store import outbox
from store.db import Store

if TYPE_CHECKING:
    from engine.config import Config
    from engine.config.schema import SupervisorSection
    from engine.supervisor.children import Child
    from engine.supervisor.stopping import Stop

log = logging.getLogger("cappuccino.supervisor")

CONFIRM_S = 1.0
EXIT_STORE_LOST = 1
EXTRA_WAIT_S = 5.0  # after the SIGKILLs: for the kernel to take the groups down
NOTIFY_WAIT_S = 15.0  # for the notifier to send the alert (one try, a slow target)
NOTIFIER = "notifier"


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

    cfg: Config
    s: SupervisorSection
    store: Store
    children: dict[str, Child]
    stops: dict[str, Stop]
    trouble: TroubleLog

    if TYPE_CHECKING:  # the Supervisor's and its other mixins' own
        def begin_stop(self, name: str, *, kill: bool, then_start: bool = False) -> bool: ...
        def reap(self) -> None: ...

    def abandon(self, why: str) -> int:
        names = sorted(set(self.children) | set(self.stops))  # stops under way: KILL too
        log.critical("the store %s was %s (this supervisor's writes go nowhere): stopping "
                     "%d child(ren) (%s) and exiting", self.store.path, why, len(names),
                     ", ".join(names) or "-")
        alert = self._alert(why, names)
        alive = self._stop_all([n for n in names if n != NOTIFIER])
        if NOTIFIER in names:
            if alert is not None:
                self._wait_sent(alert)
            alive += self._stop_all([NOTIFIER])
        if alive:
            log.critical("exiting; still alive after SIGKILL: %s", ", ".join(alive))
        else:
            log.critical("exiting: every child stopped (store %s)", why)
        return EXIT_STORE_LOST

    def _alert(self, why: str, names: list[str]) -> int | None:
        """Queued in the file we still hold: the notifier holds it too, and sends it."""
        from engine.notify.events import emit

        try:
            return emit(self.store, self.cfg, "process", "supervisor stopped: store gone",
                        f"{self.store.path} was {why}; stopping {', '.join(names) or 'nothing'}"
                        " and exiting.", "failure")
        except STORE_TROUBLE as e:
            log.warning("cannot queue the alert (%s)", e)
            return None

    def _wait_sent(self, alert: int) -> None:
        end = time.monotonic() + NOTIFY_WAIT_S
        while time.monotonic() < end and group_alive(self.children[NOTIFIER].pid):
            with contextlib.suppress(*STORE_TROUBLE):
                if outbox.is_sent(self.store, alert):
                    return
            time.sleep(0.1)
        log.warning("the alert was not sent within %gs", NOTIFY_WAIT_S)

    def _stop_all(self, names: list[str]) -> list[str]:
        """TERM each child's group, KILL after grace; the names still alive at the end."""
        for name in names:
            # a refused row write comes after the group was signalled: the stop is under way
            with contextlib.suppress(*STORE_TROUBLE):
                self.begin_stop(name, kill=False)
        kill_at = time.monotonic() + self.s.stop_grace_s
        end, killed = kill_at + EXTRA_WAIT_S, False
        while True:
            self.trouble.attempt(self.reap)  # our own children: no zombie left
            alive = sorted(n for n in names if n in self.stops
                           and group_alive(self.stops[n].pgid))
            t = time.monotonic()
            if not alive or t >= end:
                return alive
            if t >= kill_at and not killed:
                log.warning("SIGKILL to %s (ignored SIGTERM for %gs)", ", ".join(alive),
                            self.s.stop_grace_s)
                for n in alive:
                    signal_group(self.stops[n].pgid, signal.SIGKILL)
                killed = True
            time.sleep(min(self.s.poll_s, 0.1))
