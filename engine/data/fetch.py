"""Download candles into a resumable per-ticker Parquet cache.

Layout under [paths] data:
    <source>/<timeframe>/<TICKER>.chunks/<chunk_start>.parquet   one request's bars
    <source>/<timeframe>/<TICKER>.parquet                        merged, what load reads

Time is cut into fixed chunks aligned to multiples of chunk_bars × bar seconds since the
epoch, so a rerun asks for exactly the same chunks. Chunks are fetched newest first
(Coinbase pages backwards). A chunk that ends before the last complete bar is final: it is
written once (temp file, fsync, rename) and never fetched again, which is what makes an
interrupted fetch resumable. The chunk holding the newest bars is refetched every run.
An empty final chunk (no trading, or before a listing) is cached too.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.data.candles import DataError, bar_seconds
from engine.data.validate import Report, validate
from engine.files import write_atomic

# fetch_chunk(ticker, start, stop) -> DataFrame(timestamp, open, high, low, close, volume)
ChunkFetcher = Callable[[str, int, int], Any]
COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


class FetchInterrupted(DataError):
    """A request failed; what was fetched so far is cached and a rerun resumes."""


@dataclass(frozen=True)
class FetchResult:
    tickers: tuple[str, ...]
    fetched: int            # requests made this run
    cached: int             # chunks already on disk (skipped)
    paths: tuple[Path, ...]
    report: Report


def write_parquet_atomic(df: Any, path: Path) -> None:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    write_atomic(path, buf.getvalue())


def chunk_starts(start: int, end: int, chunk_seconds: int) -> list[int]:
    """Aligned chunk starts covering [start, end), newest first."""
    first = (start // chunk_seconds) * chunk_seconds
    return list(range(first, end, chunk_seconds))[::-1]


def fetch_candles(source: str, tickers: list[str], timeframe: str, days: float, root: Path,
                  fetch_chunk: ChunkFetcher, chunk_bars: int, *, now: float | None = None,
                  max_fill_bars: int = 12, min_bars: int = 10, progress: bool = True,
                  min_interval_s: float = 0.0, retries: int = 2,
                  retry_wait_s: float = 2.0) -> FetchResult:
    """Fetch the last `days` of `timeframe` bars for each ticker into root/source/timeframe.

    A failed request is retried `retries` times (waits retry_wait_s, then doubling) unless
    the server said the request itself is wrong (HTTP 4xx other than 429). Raises
    FetchInterrupted (after caching what it got) when a request still fails.
    """
    import pandas as pd
    from tqdm import tqdm

    sec = bar_seconds(timeframe)
    now = time.time() if now is None else now
    end = int(now // sec) * sec              # open time of the bar still forming: excluded
    start = end - int(days * 86400) // sec * sec
    chunk_seconds = chunk_bars * sec
    starts = chunk_starts(start, end, chunk_seconds)
    base = root / source / timeframe
    plan = [(t, s) for t in tickers for s in starts]
    todo = [(t, s) for t, s in plan
            if s + chunk_seconds > end or not _chunk_path(base, t, s).exists()]
    cached = len(plan) - len(todo)
    fetched = 0
    last_request = 0.0
    bar = tqdm(total=len(plan), initial=cached, desc=f"{source} {timeframe}", unit="chunk",
               disable=not progress, leave=True, dynamic_ncols=True)
    try:
        for ticker, s in todo:
            bar.set_postfix_str(ticker)
            wait = min_interval_s - (time.monotonic() - last_request)
            if wait > 0:
                time.sleep(wait)
            last_request = time.monotonic()
            def call(t: str = ticker, s: int = s) -> Any:
                return fetch_chunk(t, s, s + chunk_seconds)

            try:
                frame = _with_retries(call, retries, retry_wait_s)
            except DataError:
                raise
            except Exception as e:  # HTTP, connection, SDK errors: cached chunks are kept
                raise FetchInterrupted(
                    f"{source} request for {ticker} at {_iso(s)} failed ({type(e).__name__}: "
                    f"{_short(e)}); {cached + fetched} of {len(plan)} chunks cached, rerun to "
                    "resume") from None
            fetched += 1
            frame = _tidy(frame)
            final = s + chunk_seconds <= end
            write_parquet_atomic(frame, _chunk_path(base, ticker, s) if final
                                 else base / f"{ticker}.chunks" / "newest.parquet")
            bar.update(1)
    finally:
        bar.close()

    frames = {}
    paths = []
    for ticker in tickers:
        files = [_chunk_path(base, ticker, s) for s in starts[1:]]
        newest = base / f"{ticker}.chunks" / "newest.parquet"
        if starts:
            files.append(newest if starts[0] + chunk_seconds > end
                         else _chunk_path(base, ticker, starts[0]))
        parts = [_read_chunk(f) for f in files if f.exists()]
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
        df = df[(df["timestamp"] >= start) & (df["timestamp"] < end)]
        df = df.sort_values("timestamp", kind="stable").drop_duplicates("timestamp", keep="last")
        if df.empty:
            raise DataError(f"{source} returned no {timeframe} candles for {ticker} in the "
                            f"last {days:g} days (unknown product?)")
        path = base / f"{ticker}.parquet"
        write_parquet_atomic(df.reset_index(drop=True), path)
        frames[ticker] = df
        paths.append(path)
    _candles, report = validate(frames, tickers=tickers, timeframe=timeframe,
                                max_fill_bars=max_fill_bars, min_bars=min_bars)
    return FetchResult(tickers=tuple(tickers), fetched=fetched, cached=cached,
                       paths=tuple(paths), report=report)


def _read_chunk(path: Path) -> Any:
    import pandas as pd

    try:
        return pd.read_parquet(path)
    except Exception as e:  # damaged outside our atomic writes: drop it so a rerun refetches
        path.unlink(missing_ok=True)
        raise FetchInterrupted(f"cached chunk {path} was unreadable ({type(e).__name__}); "
                               "removed it, rerun to fetch it again") from None


def _with_retries(call: Callable[[], Any], retries: int, wait_s: float) -> Any:
    for attempt in range(retries + 1):
        try:
            return call()
        except DataError:
            raise
        except Exception as e:  # SDK/HTTP errors of any kind: retried, the last one raised
            status = getattr(getattr(e, "response", None), "status_code", None)
            permanent = status is not None and 400 <= int(status) < 500 and int(status) != 429
            if permanent or attempt >= retries:
                raise
            time.sleep(wait_s * 2**attempt)
    raise AssertionError("unreachable")


def _chunk_path(base: Path, ticker: str, start: int) -> Path:
    return base / f"{ticker}.chunks" / f"{start}.parquet"


def _tidy(frame: Any) -> Any:
    import pandas as pd

    if frame is None or len(frame) == 0:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in COLUMNS})
    return frame[list(COLUMNS)].astype("float64").reset_index(drop=True)


def _iso(ts: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%MZ")


def _short(e: Exception) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    return text[:160]


def cache_summary(root: Path) -> list[dict[str, Any]]:
    """What `data fetch` has cached: one row per (source, timeframe, ticker)."""
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for path in sorted(root.glob("*/*/*.parquet")):
        source, timeframe, ticker = path.parent.parent.name, path.parent.name, path.stem
        try:
            table = pq.read_table(path, columns=["timestamp"])
            ts = table.column("timestamp").to_pylist()
        except Exception as e:  # pyarrow raises many kinds; the file's row says what failed
            rows.append({"source": source, "timeframe": timeframe, "ticker": ticker,
                         "error": f"{type(e).__name__}: {e}"})
            continue
        rows.append({"source": source, "timeframe": timeframe, "ticker": ticker,
                     "bars": len(ts), "first": _iso(int(min(ts))) if ts else "",
                     "last": _iso(int(max(ts))) if ts else "", "path": str(path)})
    return rows
