"""Coinbase Advanced Trade public candles (no keys needed).

`get_public_candles` returns at most 350 candles a request, newest first, for candles whose
start lies between start and end; engine.data.fetch asks for one 349-bar chunk at a time,
walking backwards from now, and this module turns one page into a sorted DataFrame.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.data.candles import TIMEFRAME_SECONDS, DataError

MAX_CANDLES = 350
# One bar less than the limit per chunk, and `end` = the next chunk's first bar: complete
# whether the API treats `end` as inclusive or exclusive (we drop the extra bar).
CHUNK_BARS = MAX_CANDLES - 1
GRANULARITY = {"1m": "ONE_MINUTE", "5m": "FIVE_MINUTE", "15m": "FIFTEEN_MINUTE",
               "30m": "THIRTY_MINUTE", "1h": "ONE_HOUR", "2h": "TWO_HOUR", "6h": "SIX_HOUR",
               "1d": "ONE_DAY"}


def make_client(base_url: str, timeout: float = 10) -> Any:
    from engine.brokers.coinbase_client import make_rest_client

    return make_rest_client(base_url, timeout=timeout)


def candles_frame(rows: list[Any]) -> Any:
    """Candle objects or dicts ({start, low, high, open, close, volume} strings) -> sorted frame."""
    import pandas as pd

    def get(row: Any, key: str) -> Any:
        return row[key] if isinstance(row, dict) else getattr(row, key, None)

    cols = ("open", "high", "low", "close", "volume")
    data = {"timestamp": np.array([float(get(r, "start")) for r in rows], dtype=np.float64)}
    for c in cols:
        data[c] = np.array([float(get(r, c)) for r in rows], dtype=np.float64)
    return pd.DataFrame(data).sort_values("timestamp", kind="stable").reset_index(drop=True)


def fetch_chunk(client: Any, ticker: str, timeframe: str, start: int, stop: int) -> Any:
    """Candles with open time in [start, stop) (at most 350 bars), oldest first."""
    if timeframe not in GRANULARITY:
        raise DataError(f"Coinbase has no {timeframe} candles")
    sec = TIMEFRAME_SECONDS[timeframe]
    if (stop - start) // sec > CHUNK_BARS:
        raise ValueError(f"a Coinbase chunk covers at most {CHUNK_BARS} bars")
    resp = client.get_public_candles(product_id=ticker, start=str(int(start)),
                                     end=str(int(stop)), granularity=GRANULARITY[timeframe],
                                     limit=MAX_CANDLES)
    rows = getattr(resp, "candles", None) or []
    frame = candles_frame(rows)
    return frame[(frame["timestamp"] >= start) & (frame["timestamp"] < stop)]
