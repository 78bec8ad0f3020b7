"""Record a trader's product increments at its start, for display (store.increments).

Order sizing never reads the recorded rows: the risk engine and the executor round with the
broker's own `product()` (cached by the broker), so an exchange that changes a step takes
effect there at once; the record only decides how quantities are shown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from decimal import Decimal

from engine.brokers.base import Broker, BrokerError, Product
from store.db import Store, StoreError
from store.increments import ProductIncrement, record_increments

log = logging.getLogger("cappuccino.trading")


def _text(d: Decimal) -> str | None:
    return format(d, "f") if d > 0 else None  # never 1E-8 exponent text


def increment_row(trader: str, broker_name: str, p: Product, at: float) -> ProductIncrement | None:
    """The row for one product, or None when the broker gave no usable base increment."""
    base = _text(p.base_increment)
    if base is None:
        return None
    return ProductIncrement(trader=trader, ticker=p.ticker, broker=broker_name,
                            base_increment=base, quote_increment=_text(p.quote_increment) or "",
                            base_min_size=_text(p.base_min_size),
                            quote_min_size=_text(p.quote_min_size), recorded_at=at)


def record_products(store: Store, trader: str, broker_name: str, broker: Broker,
                    tickers: Sequence[str]) -> list[str]:
    """Ask the broker for each ticker's product and record its increments.

    Returns the tickers left unrecorded (shown on the 8-decimal fallback), each with why; a
    failure here is logged and never stops the trader (display only)."""
    rows, missing = [], []
    for t in tickers:
        try:
            row = increment_row(trader, broker_name, broker.product(t), time.time())
        except BrokerError as e:
            missing.append(f"{t}: {e}")
            continue
        if row is None:
            missing.append(f"{t}: the broker reported no base increment")
        else:
            rows.append(row)
    try:
        record_increments(store, rows)
    except StoreError as e:
        missing = [f"{r.ticker}: not recorded ({e})" for r in rows] + missing
    if missing:
        log.warning("trader %s: quantities on 8 decimals for %s", trader, "; ".join(missing))
    return missing
