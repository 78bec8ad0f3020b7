"""Restart policy per process kind (anchors: supervisord's autorestart/startretries/FATAL,
pm2's exponential backoff restart delay).

Decisions:
- Daemons (trader, monitor, sampler, notifier, telegram, and any kind we do not know) restart
  on ANY exit: they are meant to run forever, so even exit 0 is unexpected
  (supervisord `autorestart=true`).
- Jobs (study, trial, worker, demo) restart only on a non-zero exit or a
  signal (supervisord `autorestart=unexpected` with exitcodes=0). Exit 0 means the job
  finished: state EXITED. A job adopted from an earlier supervisor whose exit status is
  unknown is NOT restarted (state EXITED, last_error says so): rerunning a finished study
  would train another n_trials; the operator can `cappuccino start` it.
- An exit after less than `stable_uptime_s` of uptime is a "quick" exit. Consecutive quick
  exits grow the delay: backoff_initial_s × backoff_factor^(n-1), capped at backoff_max_s
  (pm2 exp-backoff). An exit after a stable run resets the count and restarts after
  backoff_initial_s (never a hot loop). The count also resets while a child stays up
  stable_uptime_s.
- After max_quick_restarts consecutive quick exits the process goes FATAL and stays down
  until an operator starts it again (supervisord FATAL after startretries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from engine.config.schema import SupervisorSection

DAEMON_KINDS = frozenset({"trader", "monitor", "sampler", "notifier", "telegram"})
JOB_KINDS = frozenset({"study", "trial", "worker", "demo"})


def is_job(kind: str) -> bool:
    return kind in JOB_KINDS


@dataclass(frozen=True)
class Decision:
    state: Literal["BACKOFF", "EXITED", "FATAL"]
    quick_restarts: int  # consecutive quick exits, including this one
    delay_s: float  # BACKOFF only: wait before the next start
    reason: str


def backoff_delay(cfg: SupervisorSection, quick: int) -> float:
    if quick <= 0:
        return cfg.backoff_initial_s
    return min(cfg.backoff_initial_s * cfg.backoff_factor ** (quick - 1), cfg.backoff_max_s)


def start_due(cfg: SupervisorSection, next_start_at: float | None, now: float) -> bool:
    """A BACKOFF child's start is due. A wait longer than any backoff can ask means the wall
    clock stepped back since it was set: start now rather than an hour late."""
    wait = (next_start_at or 0.0) - now
    return wait <= 0 or wait > max(cfg.backoff_max_s, cfg.backoff_initial_s) + 1.0


def decide(cfg: SupervisorSection, kind: str, exit_code: int | None, uptime_s: float,
           quick_restarts: int) -> Decision:
    """What to do after a child exited. exit_code None: unknown (adopted child)."""
    quick = quick_restarts + 1 if uptime_s < cfg.stable_uptime_s else 0
    if is_job(kind):
        if exit_code == 0:
            return Decision("EXITED", 0, 0.0, "job finished")
        if exit_code is None:
            return Decision("EXITED", 0, 0.0, "job exit status unknown; not restarted")
    if quick >= cfg.max_quick_restarts:
        return Decision("FATAL", quick, 0.0,
                        f"{quick} quick exits in a row (each under {cfg.stable_uptime_s:g}s)")
    delay = backoff_delay(cfg, quick)
    return Decision("BACKOFF", quick, delay, f"restarting in {delay:.3g}s")
