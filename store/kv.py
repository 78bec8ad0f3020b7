"""Small key/value state shared by processes (kill switch, schedule marks). The one place the
kv upsert is written: every other module calls `upsert` (inside its own transaction) or `put`."""

from __future__ import annotations

import sqlite3

from store.db import Store, now

UPSERT = ("INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) "
          "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at")


def get(store: Store, key: str, default: str | None = None) -> str | None:
    row = store.one("SELECT value FROM kv WHERE key = ?", (key,))
    return row["value"] if row else default


def upsert(conn: sqlite3.Connection | sqlite3.Cursor, key: str, value: str,
           at: float | None = None) -> None:
    """Set a key inside the caller's write transaction."""
    conn.execute(UPSERT, (key, value, now() if at is None else at))


def put(store: Store, key: str, value: str, at: float | None = None) -> None:
    with store.write():
        upsert(store.conn, key, value, at)


def put_many(store: Store, items: dict[str, str], at: float | None = None) -> None:
    """Set several keys in one transaction (the supervisor's pid and heartbeat)."""
    with store.write():
        for key, value in items.items():
            upsert(store.conn, key, value, at)


def insert_if_absent(conn: sqlite3.Connection | sqlite3.Cursor, key: str, value: str,
                     at: float | None = None) -> None:
    """Set a key unless it is set, inside the caller's write transaction."""
    conn.execute("INSERT OR IGNORE INTO kv (key, value, updated_at) VALUES (?, ?, ?)",
                 (key, value, now() if at is None else at))


def put_if_absent(store: Store, key: str, value: str, at: float | None = None) -> str:
    """Set a key unless it is set; returns the value it holds afterwards."""
    with store.write():
        insert_if_absent(store.conn, key, value, at)
    held = get(store, key)
    assert held is not None
    return held


def claim(store: Store, key: str, value: str) -> bool | None:
    """Set key to value in one transaction: False when it already held that value, None when
    it was unset (a first run), True when it held another value."""
    with store.write():
        row = store.conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        if row is not None and row[0] == value:
            return False
        upsert(store.conn, key, value)
        return None if row is None else True
