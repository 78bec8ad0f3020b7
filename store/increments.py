"""Each trader's product increments as its broker reported them at the trader's start.

Display only: quantities in `status --json`, tables, reports and exports are shown on the
base increment. Order sizing never reads this table; it asks the broker (its product cache).
Increments are Decimal text; a (trader, ticker) without a row has an unknown increment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from store.db import Store, now
from store.rows import to_rows


@dataclass(frozen=True)
class ProductIncrement:
    trader: str
    ticker: str
    broker: str
    base_increment: str          # the quantity step
    quote_increment: str         # the price step
    base_min_size: str | None
    quote_min_size: str | None
    recorded_at: float


def record_increments(store: Store, rows: Iterable[ProductIncrement]) -> int:
    """Insert or refresh rows (one short transaction); returns how many were written."""
    items = [(r.trader, r.ticker, r.broker, r.base_increment, r.quote_increment,
              r.base_min_size, r.quote_min_size, r.recorded_at or now()) for r in rows]
    if not items:
        return 0
    with store.write():
        store.conn.executemany(
            "INSERT INTO product_increments (trader, ticker, broker, base_increment, "
            "quote_increment, base_min_size, quote_min_size, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (trader, ticker) DO UPDATE SET "
            "broker = excluded.broker, base_increment = excluded.base_increment, "
            "quote_increment = excluded.quote_increment, base_min_size = excluded.base_min_size, "
            "quote_min_size = excluded.quote_min_size, recorded_at = excluded.recorded_at",
            items)
    return len(items)


def product_increments(store: Store, trader: str | None = None) -> list[ProductIncrement]:
    if trader is None:
        rows = store.query("SELECT * FROM product_increments ORDER BY trader, ticker")
    else:
        rows = store.query("SELECT * FROM product_increments WHERE trader = ? ORDER BY ticker",
                           (trader,))
    return to_rows(ProductIncrement, rows)


def base_increments(store: Store, trader: str | None = None) -> dict[tuple[str, str], str]:
    """{(trader, ticker): base increment text} for the quantities a reader shows."""
    return {(r.trader, r.ticker): r.base_increment for r in product_increments(store, trader)}
