"""The trial ledger: every trial tried on one set of candles, kept when its study is deleted.

A study's deflated Sharpe ratio deflates its best trial by the number of trials tried on the
same data (engine.study.pool). Counting only the study's own lets an operator shop: many
small studies on the same candles, each deflated by its own few trials. So each study's
trials are written here (each trial at its first attempt, its Sharpe by the study driver
after each trial and by `study sync`, and migration v0008_trial_ledger for older stores),
keyed by the data (the candles' fingerprint and timeframe), the study and its created_at,
and the trial; nothing deletes a row.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from store.db import Store, now
from store.rows import to_rows

LAYOUT_KEY = "study_layout:"   # kv key of a study's data layout (engine.study.layout.KEY)


@dataclass(frozen=True)
class LedgerRow:
    data: str
    study: str
    created: float
    trial: int
    sharpe: float | None
    recorded_at: float


def data_key(layout: object) -> str | None:
    """The ledger's key of a study layout (a dict with 'data' and 'timeframe'), else None."""
    if not isinstance(layout, dict):
        return None
    data, tf = layout.get("data"), layout.get("timeframe")
    if not isinstance(data, str) or not isinstance(tf, str):
        return None
    return f"{data}/{tf}"


def study_data_keys(store: Store) -> dict[str, str]:
    """{study: its data key} for every study whose layout this store holds (readable)."""
    out: dict[str, str] = {}
    for row in store.query("SELECT key, value FROM kv WHERE key LIKE ?", (LAYOUT_KEY + "%",)):
        try:
            key = data_key(json.loads(row["value"]))
        except ValueError:
            continue
        if key is not None:
            out[row["key"][len(LAYOUT_KEY):]] = key
    return out


def record(store: Store, data: str, study: str, created: float,
           trials: Iterable[tuple[int, float | None]]) -> None:
    """Add each (trial, per-bar Sharpe) of a study; a known trial keeps its row, and gets its
    Sharpe where it had none or it changed (a pruned trial that finished more splits)."""
    t = now()
    rows = [(data, study, float(created), int(n), sr, t) for n, sr in trials]
    if not rows:
        return
    with store.write():
        store.conn.executemany(
            "INSERT INTO trial_ledger (data, study, created, trial, sharpe, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(data, study, created, trial) DO UPDATE SET "
            "sharpe = COALESCE(excluded.sharpe, trial_ledger.sharpe)", rows)


def note_attempt(conn: sqlite3.Connection, study: str, trial: int, at: float) -> None:
    """Inside the caller's write transaction (registry.start_attempt): a trial counts from
    its first attempt, before any evidence, when its study's layout is recorded."""
    conn.execute(
        "INSERT OR IGNORE INTO trial_ledger (data, study, created, trial, sharpe, recorded_at) "
        "SELECT json_extract(k.value, '$.data') || '/' || json_extract(k.value, '$.timeframe'), "
        "?, COALESCE((SELECT created_at FROM studies WHERE name = ?), 0), ?, NULL, ? "
        "FROM kv k WHERE k.key = ? AND json_valid(k.value) "
        "AND json_type(k.value, '$.data') = 'text' "
        "AND json_type(k.value, '$.timeframe') = 'text'",
        (study, study, int(trial), at, LAYOUT_KEY + study))


def rows_for(store: Store, data: str) -> list[LedgerRow]:
    """The data's rows; a Sharpe that is not a number (a hand edit, a damaged page) reads as
    None: the trial still counts in N, its Sharpe is unknown like a trial without returns."""
    return to_rows(LedgerRow, store.query(
        "SELECT data, study, created, trial, CASE WHEN typeof(sharpe) IN ('real', 'integer') "
        "THEN sharpe END AS sharpe, recorded_at FROM trial_ledger "
        "WHERE data = ? ORDER BY study, created, trial", (data,)))


NOTE_KEY = "trial_ledger.note:"   # why the shared storage's trials on this data are not counted


def note(store: Store, data: str) -> str | None:
    row = store.one("SELECT value FROM kv WHERE key = ?", (NOTE_KEY + data,))
    return None if row is None else str(row["value"])


def set_note(store: Store, data: str, text: str | None) -> None:
    with store.write():
        if text is None:
            store.conn.execute("DELETE FROM kv WHERE key = ?", (NOTE_KEY + data,))
        else:
            store.conn.execute(
                "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) "
                "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (NOTE_KEY + data, text, now()))
