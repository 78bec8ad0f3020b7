"""The commands table: requests from the console/CLI, executed by the supervisor, kept as audit.

A row is a request, never an order: the supervisor types and checks it when it executes
(engine.supervisor.commands). `source` is whatever the writer claimed; nothing may grant
authority by it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from store.db import Store, now
from store.rows import to_row, to_rows

ACTIONS = ("start", "stop", "restart", "kill", "promote", "halt_all", "resume", "capital",
           "train", "trade", "exit")


@dataclass(frozen=True)
class CommandRow:
    id: int
    at: float
    source: str
    action: str
    target: str | None
    args: str
    state: str
    result: str | None
    done_at: float | None

    @property
    def arguments(self) -> dict[str, Any]:
        return dict(json.loads(self.args))


def insert_command(store: Store, action: str, target: str | None = None,
                   args: dict[str, Any] | None = None, source: str = "cli") -> int:
    """The one write the console is allowed. Returns the command id."""
    with store.write():
        return insert_command_row(store, action, target, args, source)


def insert_command_row(store: Store, action: str, target: str | None,
                       args: dict[str, Any] | None, source: str) -> int:
    """The INSERT of insert_command, inside the caller's write()."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    cur = store.conn.execute(
        "INSERT INTO commands (at, source, action, target, args) VALUES (?, ?, ?, ?, ?)",
        (now(), source, action, target, json.dumps(args or {}, sort_keys=True)))
    return int(cur.lastrowid or 0)


def record_done(store: Store, action: str, target: str | None, args: dict[str, Any] | None,
                result: str, source: str = "cli") -> int:
    """A command carried out directly (not by the supervisor), recorded as done in one
    write: the supervisor never sees it pending, so never runs it a second time."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    at = now()
    with store.write():
        cur = store.conn.execute(
            "INSERT INTO commands (at, source, action, target, args, state, result, done_at) "
            "VALUES (?, ?, ?, ?, ?, 'done', ?, ?)",
            (at, source, action, target, json.dumps(args or {}, sort_keys=True), result, at))
        return int(cur.lastrowid or 0)

def claim_pending(store: Store, limit: int = 50) -> list[CommandRow]:
    """Atomically move pending commands to running and return them (supervisor only)."""
    # A cheap read first: the supervisor polls often and must not take the write lock idly.
    if store.one("SELECT 1 FROM commands WHERE state = 'pending' LIMIT 1") is None:
        return []
    with store.write():
        rows = store.query("SELECT * FROM commands WHERE state = 'pending' ORDER BY id LIMIT ?",
                           (limit,))
        if rows:
            store.conn.execute(
                f"UPDATE commands SET state = 'running' WHERE id IN ({','.join('?' * len(rows))})",
                [r["id"] for r in rows])
    return [CommandRow(**{**dict(r), "state": "running"}) for r in rows]


def finish_command(store: Store, command_id: int, ok: bool, result: str) -> None:
    with store.write():
        store.conn.execute("UPDATE commands SET state = ?, result = ?, done_at = ? WHERE id = ?",
                           ("done" if ok else "failed", result, now(), command_id))


def get_command(store: Store, command_id: int) -> CommandRow | None:
    return to_row(CommandRow, store.one("SELECT * FROM commands WHERE id = ?", (command_id,)))


def first_after(store: Store, after_id: int, action: str, target: str) -> CommandRow | None:
    """The first command of this action and target written after after_id."""
    return to_row(CommandRow, store.one(
        "SELECT * FROM commands WHERE id > ? AND action = ? AND target = ? ORDER BY id LIMIT 1",
        (after_id, action, target)))


def recent_commands(store: Store, limit: int = 50, after_id: int = 0) -> list[CommandRow]:
    return to_rows(CommandRow, store.query(
        "SELECT * FROM commands WHERE id > ? ORDER BY id DESC LIMIT ?", (after_id, limit)))


def fail_running(store: Store, result: str) -> int:
    """Mark commands a dead supervisor left half-done as failed (startup recovery)."""
    with store.write():
        cur = store.conn.execute(
            "UPDATE commands SET state = 'failed', result = ?, done_at = ? WHERE state = 'running'",
            (result, now()))
        return int(cur.rowcount or 0)


def wait_outcome(store: Store, command_id: int, timeout_s: float,
                 poll_s: float = 0.1) -> CommandRow | None:
    """Poll until the command is done or failed; returns the last row seen (None if absent)."""
    deadline = time.monotonic() + timeout_s
    while True:
        row = get_command(store, command_id)
        if row is None or row.state in ("done", "failed") or time.monotonic() >= deadline:
            return row
        time.sleep(poll_s)


def prune_finished(store: Store, before: float) -> int:
    """Delete done/failed commands whose outcome came before `before` (the audit log's
    retention); pending and running ones stay however old."""
    with store.write():
        cur = store.conn.execute(
            "DELETE FROM commands WHERE state IN ('done', 'failed') AND done_at < ?", (before,))
        return int(cur.rowcount or 0)
