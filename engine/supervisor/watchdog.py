"""The heartbeat watchdog: which running children are hung (alive, but no longer beating).

A child of a watched kind (`[supervisor] watchdog_kinds`: the kinds that beat through
engine.runtime.Heartbeat) writes `processes.heartbeat_at` every heartbeat_s. Its last
sign of life is its newest beat, or its start when it has not beaten since (a beat from
an earlier run of the same row does not count). Silent for longer than `watchdog_s`, it is
hung: the supervisor stops it through its stop path (TERM, KILL after stop_grace_s) and
the restart policy starts it again. Trials are not watched here: the study driver judges
them by their attempt heartbeats and resumes them from a checkpoint.
"""

from __future__ import annotations

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
