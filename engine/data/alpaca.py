"""Alpaca crypto bars via alpaca-py's CryptoHistoricalDataClient (keys optional).

`url_override` (e.g. http://127.0.0.1:PORT for tests) is passed through as is. Symbols are
`BTC/USD`; the SDK follows next_page_token itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from engine.data.candles import TIMEFRAME_SECONDS, DataError

CHUNK_BARS = 5000


def make_client(url_override: str = "", api_key: str | None = None,
                secret_key: str | None = None) -> Any:
    from alpaca.data.historical import CryptoHistoricalDataClient

    return CryptoHistoricalDataClient(api_key=api_key or None, secret_key=secret_key or None,
                                      url_override=url_override or None)


def _timeframe(timeframe: str) -> Any:
    from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

    sec = TIMEFRAME_SECONDS[timeframe]
    if sec % 86400 == 0:
        return TimeFrame(sec // 86400, TimeFrameUnit.Day)
    if sec % 3600 == 0:
        return TimeFrame(sec // 3600, TimeFrameUnit.Hour)
    return TimeFrame(sec // 60, TimeFrameUnit.Minute)


def fetch_chunk(client: Any, ticker: str, timeframe: str, start: int, stop: int) -> Any:
    """Bars with open time in [start, stop), oldest first."""
    import pandas as pd
    from alpaca.data.requests import CryptoBarsRequest

    from engine.brokers.symbols import alpaca_symbol

    try:
        symbol = alpaca_symbol(ticker)
    except ValueError as e:
        raise DataError(str(e)) from None
    req = CryptoBarsRequest(symbol_or_symbols=symbol, timeframe=_timeframe(timeframe),
                            start=datetime.fromtimestamp(start, UTC),
                            end=datetime.fromtimestamp(stop - 1, UTC))
    bars = client.get_crypto_bars(req)
    rows = bars.data.get(symbol, []) if hasattr(bars, "data") else []
    frame = pd.DataFrame({
        "timestamp": np.array([b.timestamp.timestamp() for b in rows], dtype=np.float64),
        "open": np.array([b.open for b in rows], dtype=np.float64),
        "high": np.array([b.high for b in rows], dtype=np.float64),
        "low": np.array([b.low for b in rows], dtype=np.float64),
        "close": np.array([b.close for b in rows], dtype=np.float64),
        "volume": np.array([b.volume for b in rows], dtype=np.float64),
    }).sort_values("timestamp", kind="stable").reset_index(drop=True)
    return frame[(frame["timestamp"] >= start) & (frame["timestamp"] < stop)]
