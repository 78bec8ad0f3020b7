"""The processes table: what the supervisor runs, and what everyone else reads."""

from __future__ import annotations

import json
from dataclasses import dataclass

from store.db import Store, now
from store.rows import to_row, to_rows

# STARTING -> RUNNING -> (EXITED -> BACKOFF -> STARTING)* -> STOPPED | FATAL
STATES = ("STARTING", "RUNNING", "BACKOFF", "STOPPING", "STOPPED", "EXITED", "FATAL")


@dataclass(frozen=True)
class ProcessRow:
    name: str
    kind: str
    argv: str
    desired: str
    state: str
    pid: int | None
    create_time: float | None
    restarts: int
    quick_restarts: int
    started_at: float | None
    stopped_at: float | None
    exit_code: int | None
    last_error: str | None
    log_path: str | None
    heartbeat_at: float | None
    next_start_at: float | None
    created_at: float
    updated_at: float

    @property
    def args(self) -> list[str]:
        return list(json.loads(self.argv))


def list_processes(store: Store) -> list[ProcessRow]:
    return to_rows(ProcessRow, store.query("SELECT * FROM processes ORDER BY kind, name"))


def get_process(store: Store, name: str) -> ProcessRow | None:
    return to_row(ProcessRow, store.one("SELECT * FROM processes WHERE name = ?", (name,)))


def upsert_process(store: Store, name: str, kind: str, argv: list[str],
                   desired: str = "running") -> None:
    """Declare a process. Keeps pid/state if it exists, so adoption is not disturbed."""
    t = now()
    with store.write():
        store.conn.execute(
            "INSERT INTO processes (name, kind, argv, desired, state, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 'STARTING', ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET kind=excluded.kind, argv=excluded.argv, "
            "desired=excluded.desired, quick_restarts=0, next_start_at=NULL, "
            "updated_at=excluded.updated_at",
            (name, kind, json.dumps(argv), desired, t, t))


def update_process(store: Store, name: str, **fields: object) -> None:
    if not fields:
        return
    fields["updated_at"] = now()
    cols = ", ".join(f"{k} = ?" for k in fields)
    with store.write():
        store.conn.execute(f"UPDATE processes SET {cols} WHERE name = ?", (*fields.values(), name))


def heartbeat(store: Store, name: str) -> None:
    """Workers call this every few seconds; the supervisor and console read it."""
    t = now()
    with store.write():
        store.conn.execute("UPDATE processes SET heartbeat_at = ?, updated_at = ? WHERE name = ?",
                           (t, t, name))


def delete_finished(store: Store, kinds: tuple[str, ...], before: float) -> list[str]:
    """Delete rows of these kinds that finished cleanly (EXITED, exit 0) before `before`.

    Failed, FATAL, stopped and unknown-status rows stay for the operator to see."""
    if not kinds:
        return []
    marks = ", ".join("?" for _ in kinds)
    where = (f"state = 'EXITED' AND exit_code = 0 AND kind IN ({marks}) "
             "AND COALESCE(stopped_at, updated_at) < ?")
    with store.write():
        names = [r[0] for r in store.conn.execute(
            f"SELECT name FROM processes WHERE {where}", (*kinds, before)).fetchall()]
        if names:
            store.conn.execute(f"DELETE FROM processes WHERE {where}", (*kinds, before))
    return names
