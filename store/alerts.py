"""The alerts table: the monitor's alert history (one row per level change or re-notification)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from store.db import Store
from store.rows import to_row, to_rows

LEVELS = ("OK", "WARNING", "CRITICAL", "EMERGENCY", "INFO")
SEVERE = ("CRITICAL", "EMERGENCY")


@dataclass(frozen=True)
class AlertRow:
    id: int
    trader: str | None
    level: str
    live_sharpe: float | None
    backtest_sharpe: float | None
    message: str
    at: float


def insert_alert(store: Store, trader: str | None, level: str, message: str, at: float,
                 live_sharpe: float | None = None, backtest_sharpe: float | None = None) -> int:
    if level not in LEVELS:
        raise ValueError(f"unknown alert level {level!r}; expected one of {', '.join(LEVELS)}")
    with store.write():
        cur = store.conn.execute(
            "INSERT INTO alerts (trader, level, live_sharpe, backtest_sharpe, message, at) "
            "VALUES (?, ?, ?, ?, ?, ?)", (trader, level, live_sharpe, backtest_sharpe, message, at))
        return int(cur.lastrowid or 0)


def last_alert(store: Store, trader: str) -> AlertRow | None:
    return to_row(AlertRow, store.one(
        "SELECT * FROM alerts WHERE trader = ? ORDER BY at DESC, id DESC LIMIT 1", (trader,)))


def last_alerts(store: Store, traders: Sequence[str]) -> dict[str, AlertRow]:
    """The latest alert of each named trader, in one query."""
    if not traders:
        return {}
    marks = ",".join("?" * len(traders))
    rows = store.query(
        f"SELECT a.* FROM alerts a JOIN (SELECT trader, MAX(id) AS id FROM alerts "
        f"WHERE trader IN ({marks}) GROUP BY trader) m ON a.id = m.id", list(traders))
    return {r.trader: r for r in to_rows(AlertRow, rows) if r.trader}


def recent_alerts(store: Store, limit: int = 50, trader: str | None = None) -> list[AlertRow]:
    if trader is None:
        return to_rows(AlertRow, store.query(
            "SELECT * FROM alerts ORDER BY at DESC, id DESC LIMIT ?", (limit,)))
    return to_rows(AlertRow, store.query(
        "SELECT * FROM alerts WHERE trader = ? ORDER BY at DESC, id DESC LIMIT ?", (trader, limit)))


def count_alerts(store: Store, trader: str, since: float,
                 levels: Sequence[str] = SEVERE) -> int:
    """How many alerts of these levels the trader had since `since` (promotion gates)."""
    marks = ",".join("?" * len(levels))
    row = store.one(f"SELECT COUNT(*) AS n FROM alerts WHERE trader = ? AND at >= ? "
                    f"AND level IN ({marks})", (trader, since, *levels))
    return int(row["n"]) if row else 0


def prune_alerts(store: Store, now: float, keep_s: float) -> int:
    """Delete alerts over keep_s old, keeping every CRITICAL/EMERGENCY one (the live gate
    counts them over a trader's whole paper time) and each trader's latest (the monitor's
    level and cooldown start from it). Old is on each trader's own clock: a replaying
    trader's alerts carry its replay's times (2022 in the demo), so its newest alert, not
    the wall clock, says what is recent for it."""
    marks = ",".join("?" * len(SEVERE))
    with store.write():
        cur = store.conn.execute(
            "DELETE FROM alerts WHERE id IN (SELECT a.id FROM alerts a JOIN (SELECT trader, "
            "MAX(at) AS last, MAX(id) AS lid FROM alerts GROUP BY trader) m "
            f"ON m.trader IS a.trader WHERE a.level NOT IN ({marks}) AND a.id <> m.lid "
            "AND a.at < MIN(m.last, ?) - ?)", (*SEVERE, now, keep_s))
        return cur.rowcount
