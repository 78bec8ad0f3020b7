"""Send outbox rows through apprise, in the order they happened; retry with backoff.

The outbox is a queue: rows go out oldest first (by id), one at a time, and a row that
fails holds the ones behind it until it is delivered (with exponential backoff), so after an
outage a HALTED never arrives after the ACTIVE that followed it. A row sent late says when
it happened. A row is marked sent right after apprise reports success, so a crash between
the push and the mark re-sends that one row after a restart: delivery is at-least-once,
and only the message in flight can arrive twice.
With several URLs a partial failure retries the whole row (the working services see it
again). Silent rows stay in the outbox as history and are never pushed: apprise has no
portable "silent" flag. Title, body and the stored last_error are redacted first, with every
secret value and every long fragment of the apprise URLs (their tokens).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from engine.config import Config
from engine.notify.redact import Redactor
from store.db import Store
from store.outbox import OutboxRow, mark_failed, mark_sent, queue

log = logging.getLogger("cappuccino.notify")

# Apprise's own notify types match our outbox levels one to one.
NOTIFY_TYPES = ("info", "success", "warning", "failure")
MAX_ERROR_CHARS = 300
LATE_S = 30.0  # a row sent this long after it happened carries its original time


@dataclass(frozen=True)
class SendResult:
    sent: int
    failed: int


def backoff_s(cfg: Config, attempts: int) -> float:
    """Delay before the next try after `attempts` failed tries (1, 2, ...)."""
    n = cfg.notify
    return float(min(n.backoff_initial_s * (2.0 ** max(attempts - 1, 0)), n.backoff_max_s))


class AppriseTransport:
    """The real sender: one Apprise object for all configured URLs."""

    def __init__(self, urls: list[str], timeout_s: float = 10.0) -> None:
        import apprise

        self._apprise = apprise.Apprise()
        self.bad = [u for u in urls if not self._apprise.add(u)]
        self.count = len(urls) - len(self.bad)
        self.timeout_s = timeout_s

    def __call__(self, title: str, body: str, level: str) -> tuple[bool, str]:
        import apprise

        notify_type = level if level in NOTIFY_TYPES else "info"
        with apprise.LogCapture(level=logging.WARNING) as logs:
            result = self._apprise.notify(body, title=title, notify_type=notify_type)
        ok = bool(result)
        text = logs.getvalue() if not ok else ""
        # Keep the messages, not apprise's timestamps.
        lines = [ln.split(" - ", 2)[-1].strip() for ln in text.splitlines() if ln.strip()]
        return ok, ("; ".join(lines) or "apprise reported a failure")


Transport = Callable[[str, str, str], tuple[bool, str]]


def send_due(cfg: Config, store: Store, transport: Transport, redactor: Redactor, at: float,
             limit: int = 20) -> SendResult:
    """Send the queue's rows in order until one is not due yet or fails (it then holds the
    rest). One write per row, after its push: nothing is ever lost."""
    sent = failed = 0
    for row in queue(store, limit, cfg.notify.max_attempts):
        # The oldest row waits for its retry; nothing overtakes it. A wait longer than any
        # backoff is a wall clock that stepped back: it would hold every alert for the step.
        if at < row.next_try_at <= at + cfg.notify.backoff_max_s + 1.0:
            break
        ok, error = _push(transport, redactor, row, at)
        if ok:
            mark_sent(store, row.id, at)
            sent += 1
            continue
        failed += 1
        attempts = row.attempts + 1
        wait = backoff_s(cfg, attempts)
        error = redactor(error)[:MAX_ERROR_CHARS]
        if cfg.notify.max_attempts and attempts >= cfg.notify.max_attempts:
            error = f"gave up after {attempts} attempts: {error}"
            wait = 10 * 365 * 86_400.0  # left unsent for the operator to see
        mark_failed(store, row.id, at + wait, error)
        log.warning("outbox #%d (%s) not delivered (attempt %d), next try in %.0f s: %s",
                    row.id, row.event, attempts, wait, error)
        break  # the rows behind it wait: in order, or not at all
    return SendResult(sent, failed)


def late_note(created_at: float, at: float) -> str:
    """'' for a prompt row; else when it happened, for a message that arrives late."""
    late = at - created_at
    if late < LATE_S:
        return ""
    import time

    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(created_at))
    return f"\n(happened at {when} UTC; sent {late:.0f} s late)"


def _push(transport: Transport, redactor: Redactor, row: OutboxRow,
          at: float) -> tuple[bool, str]:
    try:
        body = redactor(row.body) + late_note(row.created_at, at)
        return transport(redactor(row.title), body, row.level)
    except Exception as e:  # a plugin bug must not kill the notifier; the row is retried
        return False, f"{type(e).__name__}: {e}"
