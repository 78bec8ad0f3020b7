"""Candle history for the trader, kept in memory: each bar fetches only the candles it lacks.

The window ends at the bar being decided (the exchange's newest closed candle). The last
REFETCH_BARS candles are asked again each bar, because an exchange may publish a candle late
or correct it. Gaps inside the window are filled forward (as before); the newest candle is
never filled: `newest_missing` names the tickers whose newest candle has not arrived, and the
trader waits for it (bounded) or decides nothing for that bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.brokers.base import Bar, Broker
from engine.data.candles import Candles

FIELDS = ("open", "high", "low", "close", "volume")
REFETCH_BARS = 2


@dataclass(frozen=True)
class Window:
    candles: Candles
    missing: int                   # cells missing in the window (filled forward)
    last_present: float | None     # start of the newest bar every ticker has
    newest_missing: tuple[str, ...]


class CandleHistory:
    def __init__(self, broker: Broker, tickers: tuple[str, ...], timeframe: str, period: int,
                 n: int) -> None:
        self.broker, self.tickers, self.timeframe = broker, tickers, timeframe
        self.period, self.n = period, n
        self.rows: dict[str, dict[int, Bar]] = {t: {} for t in tickers}
        self.fetched_to: dict[str, float] = {}
        self.requests = 0          # broker.bars calls made (for tests and the bench)

    def clear(self) -> None:
        """Forget every candle (the next window fetches all of it again)."""
        self.rows = {t: {} for t in self.tickers}
        self.fetched_to.clear()

    def _refresh(self, ticker: str, first: float, bar_at: float) -> None:
        p = self.period
        end = bar_at + p
        start = max(first, self.fetched_to.get(ticker, first) - REFETCH_BARS * p)
        if start >= end:
            return
        have = self.rows[ticker]
        self.requests += 1
        for b in self.broker.bars(ticker, start, end, self.timeframe):
            have[int(round(b.start))] = b
        self.fetched_to[ticker] = max(self.fetched_to.get(ticker, 0.0), end)
        for k in [k for k in have if k < first]:
            del have[k]

    def window(self, bar_at: float) -> Window:
        n, p = self.n, self.period
        grid = bar_at - p * np.arange(n - 1, -1, -1, dtype=np.float64)
        fields = {k: np.full((n, len(self.tickers)), np.nan) for k in FIELDS}
        for j, t in enumerate(self.tickers):
            self._refresh(t, float(grid[0]), bar_at)
            have = self.rows[t]
            for i, at in enumerate(grid):
                b = have.get(int(round(at)))
                if b is not None:
                    for k in FIELDS:
                        fields[k][i, j] = getattr(b, k)
        close = fields["close"]
        newest = tuple(t for j, t in enumerate(self.tickers) if not np.isfinite(close[-1, j]))
        complete = np.flatnonzero(np.all(np.isfinite(close), axis=1))
        last_present = float(grid[complete[-1]]) if complete.size else None
        missing = int(np.sum(~np.isfinite(close)))
        for k, arr in fields.items():
            _fill_forward(arr, volume=(k == "volume"))
        # A field no bar carries (NaN everywhere: a close-only source) is absent, as in training.
        opt = {k: (None if not np.isfinite(fields[k]).any() else fields[k])
               for k in ("open", "high", "low", "volume")}
        candles = Candles(times=grid.astype(np.int64), tickers=self.tickers, close=close,
                          timeframe=self.timeframe, **opt)
        return Window(candles, missing, last_present, newest)


def _fill_forward(arr: np.ndarray, volume: bool) -> None:
    """Forward-fill gaps in place (then back-fill the start); missing volume is 0."""
    n = arr.shape[0]
    for j in range(arr.shape[1]):
        col = arr[:, j]
        ok = np.isfinite(col)
        if not ok.any():
            continue
        if volume:
            arr[:, j] = np.where(ok, col, 0.0)
            continue
        idx = np.where(ok, np.arange(n), 0)
        np.maximum.accumulate(idx, out=idx)
        filled = col[idx]
        filled[: int(np.argmax(ok))] = col[int(np.argmax(ok))]
        arr[:, j] = filled
