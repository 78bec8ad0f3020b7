"""Thinning a trader's per-bar rows (`equity`, `decisions`) older than its full-resolution
window; `orders` and `fills` are the books and are never touched here.

Older than the cutoff (a UTC day boundary on the trader's own clock, so a day is either
whole or thinned):
- equity keeps the trader's first row and the last row of each UTC hour (so the last of
  each day: daily PnL, weekly first/last and the HODL/equal-weight comparison at those
  points read the same values);
- decisions keep every one that passed (led to an order) and every one the risk engine
  refused or clamped (its reason names "risk"); the HOLDs and conviction refusals go.

Deletes run in small transactions (BATCH rows) so a trader writing its bar never waits
long for the write lock. Stateless: each pass finds what is left to thin, so a pass cut
short (budget, crash) resumes at the next. `full_since:<trader>` (kv) records the cutoff
thinned to: readers that need full resolution (the live gate's Sharpe) start there.
"""

from __future__ import annotations

from dataclasses import dataclass

from store import kv
from store.db import Store

DAY_S = 86400.0
BATCH = 500
MARK = "full_since:"

_EQUITY = (
    "DELETE FROM equity WHERE trader = :t AND at IN ("
    "SELECT e.at FROM equity e WHERE e.trader = :t AND e.at > :first AND e.at < :cutoff "
    "AND EXISTS (SELECT 1 FROM equity f WHERE f.trader = :t AND f.at > e.at "
    "AND f.at < (CAST(e.at / 3600 AS INTEGER) + 1) * 3600.0) ORDER BY e.at LIMIT :n)")
_DECISIONS = (
    "DELETE FROM decisions WHERE id IN ("
    "SELECT id FROM decisions WHERE trader = :t AND passed = 0 AND at < :cutoff "
    "AND (reason IS NULL OR instr(reason, 'risk') = 0) ORDER BY at LIMIT :n)")


@dataclass(frozen=True)
class Thinned:
    equity: int = 0
    decisions: int = 0
    batches: int = 0


def traders_with_rows(store: Store) -> list[str]:
    """Every trader with equity or decision rows (a skip-scan of each table's index)."""
    names: set[str] = set()
    for table in ("equity", "decisions"):
        last = ""
        while True:
            row = store.one(f"SELECT MIN(trader) FROM {table} WHERE trader > ?", (last,))
            if row is None or row[0] is None:
                break
            last = str(row[0])
            names.add(last)
    return sorted(names)


def cutoff_for(clock: float, days: float) -> float:
    """Rows before this are thinned: `days` before the clock, down to a UTC day boundary."""
    return (clock - days * DAY_S) // DAY_S * DAY_S


def full_since(store: Store, trader: str) -> float | None:
    """Where the trader's full-resolution equity starts; None when none was thinned."""
    raw = kv.get(store, MARK + trader)
    try:
        return None if raw is None else float(raw)
    except ValueError:
        return None


def thin_trader(store: Store, trader: str, cutoff: float, max_batches: int) -> Thinned:
    """Thin the trader's rows before `cutoff`, at most `max_batches` transactions."""
    first = store.one("SELECT MIN(at) FROM equity WHERE trader = ?", (trader,))
    first_at = float(first[0]) if first is not None and first[0] is not None else cutoff
    eq = dec = batches = 0
    args = {"t": trader, "first": first_at, "cutoff": cutoff, "n": BATCH}
    for sql in (_EQUITY, _DECISIONS):
        while batches < max_batches:
            with store.write():
                n = store.conn.execute(sql, args).rowcount
                if sql is _EQUITY and batches == 0 and first_at < cutoff:
                    _raise_mark(store, trader, cutoff)
            batches += 1
            if sql is _EQUITY:
                eq += n
            else:
                dec += n
            if n < BATCH:
                break
    return Thinned(eq, dec, batches)


def _raise_mark(store: Store, trader: str, cutoff: float) -> None:
    """Inside the caller's transaction: the full-resolution start only moves forward."""
    held = full_since(store, trader)
    if held is None or cutoff > held:
        kv.upsert(store.conn, MARK + trader, repr(cutoff))


@dataclass(frozen=True)
class Footprint:
    """The store file's size, its free pages (reused by the next rows) and the per-bar rows."""
    file_bytes: int
    free_bytes: int
    equity_rows: int
    decision_rows: int


def footprint(store: Store) -> Footprint:
    row = store.one("SELECT p.page_count * s.page_size, f.freelist_count * s.page_size, "
                    "(SELECT count(*) FROM equity), (SELECT count(*) FROM decisions) "
                    "FROM pragma_page_count AS p, pragma_page_size AS s, "
                    "pragma_freelist_count AS f")
    assert row is not None  # an aggregate of pragmas always returns one row
    return Footprint(int(row[0]), int(row[1]), int(row[2]), int(row[3]))
