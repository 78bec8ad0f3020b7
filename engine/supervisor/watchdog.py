"""The heartbeat watchdog: which running children are hung (alive, but no longer beating).

A child of a watched kind (`[supervisor] watchdog_kinds`: the kinds that beat through
engine.runtime.Heartbeat) writes `processes.heartbeat_at` every heartbeat_s. Its last
sign of life is its newest beat, or its start when it has not beaten since (a beat from
an earlier run of the same row does not count). Silent for longer than `watchdog_s`, it is
hung: the supervisor stops it through its stop path (TERM, KILL after stop_grace_s) and
the restart policy starts it again. While the store refuses the supervisor's writes (disk
full, locked) it refuses the children's beats too: that time is no silence. Trials are not
watched here: the study driver judges them by their attempt heartbeats and resumes them
from a checkpoint.

Silence is measured on this process's monotonic clock (`Beats`): a beat is a change of the
row's heartbeat_at, whatever time it holds. The wall clock can step (NTP, a VM resumed, an
operator's `date -s`): judged by wall time, a step forward made every beating child look
hung at once, and a step back hid a hung one for as long as the step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from engine.config.schema import SupervisorSection


def silent_s(heartbeat_at: float | None, started_at: float, now: float) -> float:
    """Seconds since the child's last sign of life (its beat, else its start)."""
    return now - max(heartbeat_at or 0.0, started_at)


def overdue(cfg: SupervisorSection, kind: str, heartbeat_at: float | None, started_at: float,
            now: float) -> float | None:
    """How long a hung child has been silent; None when it is fine or not watched."""
    if cfg.watchdog_s <= 0 or kind not in cfg.watchdog_kinds:
        return None
    silent = silent_s(heartbeat_at, started_at, now)
    return silent if silent > cfg.watchdog_s else None


def reason(silent: float) -> str:
    """The last_error text of a child the watchdog stopped."""
    return f"no heartbeat for {silent:.0f} s"


class Beats:
    """When the supervisor last saw each child's heartbeat change, on the monotonic clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: dict[str, tuple[tuple[int, float | None], float]] = {}

    def overdue(self, cfg: SupervisorSection, kind: str, name: str, pid: int,
                heartbeat_at: float | None) -> float | None:
        """`overdue` for a running child: silent since its row's heartbeat last changed, or
        since this supervisor first saw this pid (a beat from an earlier run does not count
        until it changes)."""
        if cfg.watchdog_s <= 0 or kind not in cfg.watchdog_kinds:
            return None
        now, mark = self._clock(), (pid, heartbeat_at)
        seen = self._seen.get(name)
        if seen is None or seen[0] != mark:
            self._seen[name] = (mark, now)
            return None
        silent = now - seen[1]
        return silent if silent > cfg.watchdog_s else None

    def restart(self) -> None:
        """Silence so far does not count: the store refused writes, beats included."""
        now = self._clock()
        self._seen = {name: (mark, now) for name, (mark, _) in self._seen.items()}

    def keep(self, names: Iterable[str]) -> None:
        """Forget children that are gone (trial names never come back)."""
        live = set(names)
        for name in [n for n in self._seen if n not in live]:
            del self._seen[name]
