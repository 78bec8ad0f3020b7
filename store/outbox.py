"""The notification outbox: rows queued by engine.notify.events.emit, sent by the notifier.

A row is pending while sent_at is NULL. Silent rows are kept for the history and are never
pushed, so the queries below that feed the sender skip them.
"""

from __future__ import annotations

from dataclasses import dataclass

from store.db import Store
from store.rows import to_rows


@dataclass(frozen=True)
class OutboxRow:
    id: int
    event: str
    level: str
    title: str
    body: str
    silent: int
    created_at: float
    attempts: int
    next_try_at: float
    sent_at: float | None
    last_error: str | None


def enqueue(store: Store, event: str, level: str, title: str, body: str, *, silent: bool,
            at: float) -> int:
    """Queue a notification, due at once; returns its id."""
    with store.write():
        cur = store.conn.execute(
            "INSERT INTO outbox (event, level, title, body, silent, created_at, next_try_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", (event, level, title, body, int(silent), at, at))
        return int(cur.lastrowid or 0)


def due(store: Store, at: float, limit: int = 20) -> list[OutboxRow]:
    """Unsent, non-silent rows whose next try is due, in the order they happened."""
    return to_rows(OutboxRow, store.query(
        "SELECT * FROM outbox WHERE sent_at IS NULL AND next_try_at <= ? AND silent = 0 "
        "ORDER BY id LIMIT ?", (at, limit)))


def queue(store: Store, limit: int = 20, max_attempts: int = 0) -> list[OutboxRow]:
    """The oldest unsent, non-silent rows in the order they happened (id), due or not;
    rows given up on (attempts >= max_attempts, when > 0) are left out: they block nothing."""
    return to_rows(OutboxRow, store.query(
        "SELECT * FROM outbox WHERE sent_at IS NULL AND silent = 0 "
        "AND (? = 0 OR attempts < ?) ORDER BY id LIMIT ?",
        (max_attempts, max_attempts, limit)))


def next_due_at(store: Store, max_attempts: int = 0) -> float | None:
    """When the head of the queue (its oldest pending row) is next tried; None when empty.
    Rows behind the head wait for it, so their own times do not matter."""
    head = queue(store, 1, max_attempts)
    return head[0].next_try_at if head else None


def mark_sent(store: Store, row_id: int, at: float) -> None:
    with store.write():
        store.conn.execute("UPDATE outbox SET sent_at = ?, attempts = attempts + 1, "
                           "last_error = NULL WHERE id = ?", (at, row_id))


def mark_failed(store: Store, row_id: int, next_try_at: float, error: str) -> None:
    """Count the attempt and schedule the next one; `error` must already be redacted."""
    with store.write():
        store.conn.execute("UPDATE outbox SET attempts = attempts + 1, next_try_at = ?, "
                           "last_error = ? WHERE id = ?", (next_try_at, error, row_id))


def is_sent(store: Store, row_id: int) -> bool:
    row = store.one("SELECT sent_at FROM outbox WHERE id = ?", (row_id,))
    return row is not None and row["sent_at"] is not None


def pending_count(store: Store) -> int:
    row = store.one("SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL AND silent = 0")
    return int(row["n"]) if row else 0


def recent(store: Store, limit: int = 50) -> list[OutboxRow]:
    return to_rows(OutboxRow, store.query("SELECT * FROM outbox ORDER BY id DESC LIMIT ?",
                                          (limit,)))


def prune_delivered(store: Store, before: float, max_attempts: int = 0) -> int:
    """Delete rows done with before `before`: sent ones (by sent_at); silent ones, never
    tried ones (no notification target, or no notifier, for that long: stale news that would
    flood a target configured later) and, with max_attempts > 0, ones given up on (by
    created_at). A row an outage holds (tried, still retrying) stays however old: none is
    lost to an outage."""
    with store.write():
        cur = store.conn.execute(
            "DELETE FROM outbox WHERE (sent_at IS NOT NULL AND sent_at < ?) "
            "OR (sent_at IS NULL AND created_at < ? AND (silent = 1 OR attempts = 0 "
            "OR (? > 0 AND attempts >= ?)))", (before, before, max_attempts, max_attempts))
        return cur.rowcount
