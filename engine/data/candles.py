"""Candles: the one in-memory shape of market data (bars × assets), immutable.

Times are UTC unix seconds of each bar's OPEN, strictly increasing and evenly spaced by
the timeframe once validated (engine.data.validate). Prices are float64 (T, A); open, high,
low and volume are None for close-only sources (e.g. the bundled Binance file).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

TIMEFRAME_SECONDS: dict[str, int] = {
    "1m": 60, "5m": 300, "15m": 900, "30m": 1800,
    "1h": 3600, "2h": 7200, "6h": 21600, "1d": 86400,
}


class DataError(Exception):
    """Market data that cannot be used, phrased for the operator (one line)."""


def bar_seconds(timeframe: str) -> int:
    try:
        return TIMEFRAME_SECONDS[timeframe]
    except KeyError:
        raise DataError(f"unknown timeframe {timeframe!r} (expected one of "
                        f"{', '.join(TIMEFRAME_SECONDS)})") from None


@dataclass(frozen=True, eq=False)
class Candles:
    times: np.ndarray                 # int64 (T,) bar open, UTC unix seconds
    tickers: tuple[str, ...]
    close: np.ndarray                 # float64 (T, A)
    open: np.ndarray | None = None    # float64 (T, A) or None (close-only)
    high: np.ndarray | None = None
    low: np.ndarray | None = None
    volume: np.ndarray | None = None
    timeframe: str = "5m"

    def __post_init__(self) -> None:
        t, a = len(self.times), len(self.tickers)
        if self.close.shape != (t, a):
            raise DataError(f"close has shape {self.close.shape}, expected {(t, a)}")
        for name in ("open", "high", "low", "volume"):
            arr = getattr(self, name)
            if arr is not None and arr.shape != (t, a):
                raise DataError(f"{name} has shape {arr.shape}, expected {(t, a)}")
        bar_seconds(self.timeframe)

    @property
    def bar_seconds(self) -> int:
        return TIMEFRAME_SECONDS[self.timeframe]

    @property
    def n_bars(self) -> int:
        return len(self.times)

    @property
    def n_assets(self) -> int:
        return len(self.tickers)

    @property
    def has_ohlc(self) -> bool:
        return self.high is not None and self.low is not None

    @property
    def has_volume(self) -> bool:
        return self.volume is not None

    def slice(self, start: int | None, stop: int | None) -> Candles:
        """Bars [start, stop) as a new Candles (views, no copies)."""
        s = slice(start, stop)

        def cut(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[s]

        return Candles(times=self.times[s], tickers=self.tickers, close=self.close[s],
                       open=cut(self.open), high=cut(self.high), low=cut(self.low),
                       volume=cut(self.volume), timeframe=self.timeframe)

    def select(self, tickers: tuple[str, ...] | list[str]) -> Candles:
        """The given tickers, in that order; DataError names any that are missing."""
        missing = [t for t in tickers if t not in self.tickers]
        if missing:
            raise DataError(f"ticker(s) {', '.join(missing)} not in the data "
                            f"(it has {', '.join(self.tickers)})")
        idx = [self.tickers.index(t) for t in tickers]

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else np.ascontiguousarray(a[:, idx])

        return Candles(times=self.times, tickers=tuple(tickers),
                       close=np.ascontiguousarray(self.close[:, idx]),
                       open=pick(self.open), high=pick(self.high), low=pick(self.low),
                       volume=pick(self.volume), timeframe=self.timeframe)

    def fingerprint(self) -> str:
        """sha256 of times, prices and tickers (16 hex): names the exact data a model saw."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.times, dtype=np.int64).tobytes())
        h.update("\x1f".join(self.tickers).encode())
        for name in ("close", "open", "high", "low", "volume"):
            arr = getattr(self, name)
            if arr is not None:
                h.update(name.encode())
                h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
        return h.hexdigest()[:16]
