"""Whole-table reads for `cappuccino export`: every column, filtered and ordered."""

from __future__ import annotations

from typing import Any

from store.db import Store

# The tables an export may read; identifiers are never taken from user input.
EXPORTABLE = frozenset({"fills", "orders", "equity", "decisions", "alerts", "attempts"})


def table_rows(store: Store, table: str, order: str, *, trader_column: str | None = None,
               trader: str | None = None, time_column: str | None = None,
               since: float | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows) of `table`, optionally one trader's and since a time."""
    if table not in EXPORTABLE:
        raise ValueError(f"not an exportable table: {table!r}")
    where: list[str] = []
    params: list[Any] = []
    if trader is not None and trader_column is not None:
        where.append(f"{trader_column} = ?")
        params.append(trader)
    if since is not None and time_column is not None:
        where.append(f"{time_column} >= ?")
        params.append(since)
    sql = f"SELECT * FROM {table}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    cur = store.conn.cursor()
    cur.row_factory = None
    cur.execute(f"{sql} ORDER BY {order}", params)
    return [d[0] for d in cur.description], [tuple(r) for r in cur.fetchall()]
