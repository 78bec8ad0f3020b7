"""The commands table: requests from the console/CLI, executed by the supervisor, kept as audit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from store.db import Store, now
from store.rows import to_row, to_rows

ACTIONS = ("start", "stop", "restart", "kill", "promote", "halt_all", "resume", "capital",
           "train", "trade")


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
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    with store.write():
        cur = store.conn.execute(
            "INSERT INTO commands (at, source, action, target, args) VALUES (?, ?, ?, ?, ?)",
            (now(), source, action, target, json.dumps(args or {}, sort_keys=True)))
        return int(cur.lastrowid or 0)


def claim_pending(store: Store, limit: int = 50) -> list[CommandRow]:
    """Atomically move pending commands to running and return them (supervisor only)."""
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


def recent_commands(store: Store, limit: int = 50, after_id: int = 0) -> list[CommandRow]:
    return to_rows(CommandRow, store.query(
        "SELECT * FROM commands WHERE id > ? ORDER BY id DESC LIMIT ?", (after_id, limit)))
