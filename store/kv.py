"""Small key/value state shared by processes (kill switch, schedule marks)."""

from __future__ import annotations

from store.db import Store, now


def get(store: Store, key: str, default: str | None = None) -> str | None:
    row = store.one("SELECT value FROM kv WHERE key = ?", (key,))
    return row["value"] if row else default


def put(store: Store, key: str, value: str) -> None:
    with store.write():
        store.conn.execute(
            "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
            (key, value, now()))
