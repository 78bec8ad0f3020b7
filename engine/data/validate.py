"""Validate and repair market data; every change is reported, anything unusable rejected.

Accepted inputs (timestamps: unix seconds as int/float, unix milliseconds, or
ISO-8601/datetime values; all taken as UTC, the bar's OPEN time):
  - Candles;
  - a wide DataFrame: `timestamp` plus one close column per ticker (close-only);
  - a long DataFrame: `timestamp, ticker, close` and optionally `open, high, low, volume`;
  - a dict ticker -> DataFrame with `timestamp, close` (+ optional open/high/low/volume).

Per ticker, in this order:
  rows without a timestamp        dropped (reported)
  out-of-order rows               sorted (reported)
  duplicate timestamps            identical copies dropped; conflicting ones keep the
                                  last row (reported)
  timestamps off the bar grid     rejected (DataError: wrong timeframe or shifted data)
  NaN, non-numeric, non-positive,  the row is dropped and handled as a gap (reported)
  > MAX_PRICE or one-bar spikes
  high/low not bracketing o/c     high/low widened to bracket them (reported)
  NaN or negative volume          set to 0 (reported)
  gaps <= max_fill_bars           forward-filled: close carried, open=high=low=close,
                                  volume 0 (reported)
  gaps > max_fill_bars            everything before the last such gap is dropped, so the
                                  most recent contiguous stretch is kept (reported)
Across tickers the common time range is kept (reported when trimmed); fewer than
min_bars bars left is a DataError. OHLCV survives only if every ticker has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from engine.data.candles import Candles, DataError, bar_seconds

FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Report:
    lines: tuple[str, ...]      # one line per change made, empty when the data was clean
    n_bars: int
    tickers: tuple[str, ...]
    first_time: int
    last_time: int

    @property
    def clean(self) -> bool:
        return not self.lines

    def __str__(self) -> str:
        head = (f"{self.n_bars} bars × {len(self.tickers)} tickers, {_iso(self.first_time)} .. "
                f"{_iso(self.last_time)}")
        if not self.lines:
            return f"{head}: clean"
        return head + "\n" + "\n".join(f"  - {line}" for line in self.lines)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%MZ")


def to_unix_seconds(values: Any) -> np.ndarray:
    """A timestamp column -> float64 unix seconds (NaN where unparseable)."""
    import pandas as pd

    s = pd.Series(values)
    if not pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_datetime64_any_dtype(s):
        as_num = pd.to_numeric(s, errors="coerce")
        if as_num.notna().all():
            s = as_num
    if pd.api.types.is_numeric_dtype(s):
        out: np.ndarray = s.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.nanmax(np.abs(out), initial=0) > 1e11:  # milliseconds
            out = out / 1000.0
        return out
    dt = pd.to_datetime(s, utc=True, errors="coerce", format="mixed")
    secs = (dt - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    seconds: np.ndarray = secs.to_numpy(dtype=np.float64, na_value=np.nan)
    return seconds


def _frames(data: Any) -> dict[str, Any]:
    """Any accepted input -> {ticker: DataFrame(timestamp float, fields...)} in input order."""
    import pandas as pd

    if isinstance(data, Candles):
        out = {}
        for i, t in enumerate(data.tickers):
            cols: dict[str, Any] = {"timestamp": data.times.astype(np.float64)}
            for f in FIELDS:
                arr = getattr(data, f)
                if arr is not None:
                    cols[f] = arr[:, i]
            out[t] = pd.DataFrame(cols)
        return out
    if isinstance(data, dict):
        return {t: _normalise_columns(df, t) for t, df in data.items()}
    if isinstance(data, pd.DataFrame):
        df = _normalise_columns(data, "input")
        if "ticker" in df.columns:
            out = {}
            for t in pd.unique(df["ticker"]):
                part = df[df["ticker"] == t].drop(columns="ticker")
                out[str(t)] = part.reset_index(drop=True)
            return out
        tickers = [c for c in df.columns if c != "timestamp"]
        if not tickers:
            raise DataError("no price columns: expected `timestamp` plus one close column "
                            "per ticker, or long format timestamp,ticker,close")
        return {str(t): pd.DataFrame({"timestamp": df["timestamp"], "close": _to_float(df[t])})
                for t in tickers}
    raise DataError(f"cannot validate {type(data).__name__}: expected Candles or a DataFrame")


def _normalise_columns(df: Any, what: str) -> Any:
    df = df.rename(columns={c: str(c).strip().lower() for c in df.columns})
    # Tickers are case-sensitive names; restore them for the wide format below.
    for c in list(df.columns):
        if c not in ("timestamp", "ticker", *FIELDS):
            df = df.rename(columns={c: c.upper()})
    for alias in ("time", "date", "datetime", "start", "t"):
        if "timestamp" not in df.columns and alias in df.columns:
            df = df.rename(columns={alias: "timestamp"})
    if "timestamp" not in df.columns:
        raise DataError(f"{what}: no `timestamp` column (columns: {', '.join(df.columns)})")
    if ("ticker" in df.columns or set(df.columns) & set(FIELDS)) and "close" not in df.columns:
        raise DataError(f"{what}: no `close` column")
    df = df.copy()
    df["timestamp"] = to_unix_seconds(df["timestamp"])
    for f in FIELDS:
        if f in df.columns:
            df[f] = _to_float(df[f])
    return df


def _to_float(col: Any) -> Any:
    """Numbers as float64; a cell that is not a number becomes NaN (then a reported gap)."""
    import pandas as pd

    return pd.to_numeric(col, errors="coerce").astype(np.float64)


# No traded asset is priced above this in USD; a larger number is a unit or parsing error.
MAX_PRICE = 1e9
# A bar that jumps by this factor away from both neighbours and back is a bad print.
SPIKE_FACTOR = 5.0


def _bad_prices(prices: np.ndarray, close: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """Rows to drop and why: not a number, non-positive, implausibly large, or a close that
    spikes x SPIKE_FACTOR away from both neighbours (a bad high/low is widened later)."""
    nan = ~np.isfinite(prices).all(axis=1)
    with np.errstate(invalid="ignore"):
        neg = ~nan & (prices <= 0).any(axis=1)
        huge = ~nan & ~neg & (prices > MAX_PRICE).any(axis=1)
    ok = ~(nan | neg | huge)
    spike = np.zeros(len(prices), dtype=bool)
    idx = np.nonzero(ok)[0]
    if idx.size >= 3:
        logp = np.log(close[idx])
        jump_in = np.abs(logp[1:-1] - logp[:-2])
        jump_out = np.abs(logp[1:-1] - logp[2:])
        lim = np.log(SPIKE_FACTOR)
        spike[idx[1:-1][(jump_in > lim) & (jump_out > lim)]] = True
    why = {"NaN/non-numeric": int(nan.sum()), "non-positive": int(neg.sum()),
           f"above {MAX_PRICE:g}": int(huge.sum()),
           f"a one-bar spike (x{SPIKE_FACTOR:g})": int(spike.sum())}
    return nan | neg | huge | spike, why


def _clean_ticker(ticker: str, df: Any, sec: int, max_fill: int, lines: list[str]) -> Any:
    import pandas as pd

    name = ticker
    bad_ts = df["timestamp"].isna()
    if bad_ts.any():
        lines.append(f"{name}: dropped {int(bad_ts.sum())} rows without a valid timestamp")
        df = df[~bad_ts]
    ts = df["timestamp"].to_numpy()
    disorder = int((np.diff(ts) < 0).sum())
    if disorder:
        lines.append(f"{name}: {disorder} rows out of order: sorted by time")
        df = df.sort_values("timestamp", kind="stable")
    dup = df["timestamp"].duplicated(keep="last")
    if dup.any():
        fields = [f for f in FIELDS if f in df.columns]
        exact = df.duplicated(subset=["timestamp", *fields], keep="last")
        n_exact = int(exact.sum())
        n_conflict = int(dup.sum()) - n_exact
        if n_exact:
            lines.append(f"{name}: dropped {n_exact} duplicate rows")
        if n_conflict:
            lines.append(f"{name}: {n_conflict} timestamps had conflicting rows: kept the last")
        df = df[~dup]
    if df.empty:
        raise DataError(f"{name}: no rows")
    ts = df["timestamp"].to_numpy()
    off = np.mod(ts, sec) != 0
    if off.any():
        first = ts[np.argmax(off)]
        raise DataError(f"{name}: {int(off.sum())} timestamps are not on the {sec}s bar grid "
                        f"(first: {first:.0f}); wrong timeframe, or not bar open times?")

    price_cols = [f for f in ("open", "high", "low", "close") if f in df.columns]
    prices = df[price_cols].to_numpy()
    bad, why = _bad_prices(prices, df["close"].to_numpy())
    if bad.any():
        parts = [f"{n} with {w}" for w, n in why.items() if n]
        lines.append(f"{name}: dropped {int(bad.sum())} rows with bad prices "
                     f"({', '.join(parts)}); treated as gaps")
        df = df[~bad]
    if df.empty:
        raise DataError(f"{name}: no row has a valid price")
    if "high" in df.columns and "low" in df.columns and "open" in df.columns:
        top = df[["open", "close"]].max(axis=1)
        bottom = df[["open", "close"]].min(axis=1)
        wrong = (df["high"] < top) | (df["low"] > bottom) | (df["high"] < df["low"])
        if wrong.any():
            lines.append(f"{name}: {int(wrong.sum())} bars had high/low not bracketing "
                         "open/close: widened")
            df = df.assign(high=np.maximum(df["high"], top), low=np.minimum(df["low"], bottom))
    if "volume" in df.columns:
        badv = ~np.isfinite(df["volume"].to_numpy()) | (df["volume"].to_numpy() < 0)
        if badv.any():
            lines.append(f"{name}: {int(badv.sum())} bars had NaN or negative volume: set to 0")
            df = df.assign(volume=np.where(badv, 0.0, df["volume"].to_numpy()))

    # Gaps: fill short ones, keep only the stretch after the last long one.
    ts = df["timestamp"].to_numpy().astype(np.int64)
    steps = np.diff(ts) // sec - 1                 # missing bars between consecutive rows
    long_gaps = np.nonzero(steps > max_fill)[0]
    if long_gaps.size:
        cut = long_gaps[-1] + 1
        lines.append(f"{name}: gap of {int(steps[long_gaps[-1]])} bars before "
                     f"{_iso(ts[cut])} (> max_fill_bars={max_fill}): dropped the {cut} bars "
                     "before it")
        df = df.iloc[cut:]
        ts = ts[cut:]
        steps = steps[cut:]
    short = steps[steps > 0]
    df = df.set_index(ts)
    if short.size:
        grid = np.arange(ts[0], ts[-1] + sec, sec, dtype=np.int64)
        df = df.reindex(grid)
        close = df["close"].ffill()
        filled = {"close": close}
        for f in ("open", "high", "low"):
            if f in df.columns:
                filled[f] = df[f].fillna(close)
        if "volume" in df.columns:
            filled["volume"] = df["volume"].fillna(0.0)
        df = pd.DataFrame(filled, index=grid)
        lines.append(f"{name}: forward-filled {short.size} gaps ({int(short.sum())} bars)")
    return df.drop(columns=["timestamp"], errors="ignore")


def validate(data: Any, tickers: list[str] | tuple[str, ...] | None = None,
             timeframe: str = "5m", max_fill_bars: int = 12,
             min_bars: int = 10) -> tuple[Candles, Report]:
    """Repair what can be repaired (reported), reject the rest (DataError, one line)."""
    sec = bar_seconds(timeframe)
    frames = _frames(data)
    if tickers is not None:
        missing = [t for t in tickers if t not in frames]
        if missing:
            raise DataError(f"ticker(s) {', '.join(missing)} not in the data "
                            f"(it has {', '.join(frames) or 'none'})")
        frames = {t: frames[t] for t in tickers}
    if not frames:
        raise DataError("no tickers in the data")
    lines: list[str] = []
    cleaned = {t: _clean_ticker(t, df, sec, max_fill_bars, lines) for t, df in frames.items()}

    first = max(int(df.index[0]) for df in cleaned.values())
    last = min(int(df.index[-1]) for df in cleaned.values())
    if last < first:
        raise DataError("the tickers' time ranges do not overlap")
    for t, df in cleaned.items():
        if int(df.index[0]) != first or int(df.index[-1]) != last:
            dropped = len(df) - int(((df.index >= first) & (df.index <= last)).sum())
            lines.append(f"{t}: trimmed {dropped} bars outside the common range "
                         f"{_iso(first)} .. {_iso(last)}")
            cleaned[t] = df.loc[first:last]
    n_bars = (last - first) // sec + 1
    if n_bars < min_bars:
        raise DataError(f"only {n_bars} usable bars after validation (need at least "
                        f"{min_bars}); fetch more history or check the data")
    names = tuple(cleaned)
    times = np.arange(first, last + sec, sec, dtype=np.int64)
    have = [f for f in FIELDS if all(f in df.columns for df in cleaned.values())]
    partial = [f for f in FIELDS if f not in have and any(f in df.columns
                                                          for df in cleaned.values())]
    if partial:
        lines.append(f"not every ticker has {', '.join(partial)}: kept close"
                     f"{'' if not have else ' and ' + ', '.join(h for h in have if h != 'close')}")
    arrays: dict[str, np.ndarray | None] = {}
    for f in FIELDS:
        arrays[f] = (np.column_stack([cleaned[t][f].to_numpy(dtype=np.float64) for t in names])
                     if f in have else None)
    close = arrays["close"]
    assert close is not None
    candles = Candles(times=times, tickers=names, close=np.ascontiguousarray(close),
                      open=arrays["open"], high=arrays["high"], low=arrays["low"],
                      volume=arrays["volume"], timeframe=timeframe)
    return candles, Report(lines=tuple(lines), n_bars=n_bars, tickers=names,
                           first_time=first, last_time=last)
