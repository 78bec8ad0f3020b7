"""load_candles(cfg): the configured source -> validated Candles of cfg.data.tickers.

Sources ([data] source):
  bundled    the real Binance 5-minute closes shipped in engine/data/bundled/ (10 coins,
             2022-02-02 .. 2022-04-30, 25,045 bars, close only). Binance quotes them in
             USDT; they are exposed as `<COIN>-USD` (BTC-USDT -> BTC-USD) so the default
             tickers and a Coinbase/Alpaca trader use one name. USDT traded within ~0.1%
             of USD then; treat the mapping as an approximation for research.
  synthetic  engine.data.synthetic (seeded OHLCV; [data] synthetic_bars, seed)
  csv        [data] path: wide (`timestamp` + one close column per ticker) or long
  parquet    (`timestamp,ticker,open,high,low,close,volume`, open/high/low/volume
             optional) — see engine.data.validate for the accepted timestamp forms.
  coinbase   the Parquet cache written by `cappuccino data fetch --source coinbase|alpaca`
  alpaca     under [paths] data/<source>/<timeframe>/<TICKER>.parquet.
A coarser timeframe than the stored one (e.g. 1h from 5m) is resampled; data coarser than the
configured timeframe (1h rows for a 5m config) is refused with one line, never filled forward
into flat bars. Every file-based source goes through validate(), whose report is logged at
INFO.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from engine.data.candles import TIMEFRAME_SECONDS, Candles, DataError
from engine.data.validate import Report, validate

log = logging.getLogger(__name__)

BUNDLED_FILE = "binance_5m_close_2022-02_2022-04.csv.gz"
BUNDLED_TIMEFRAME = "5m"


def bundled_path() -> Path:
    return Path(str(resources.files("engine.data") / "bundled" / BUNDLED_FILE))


def bundled_ticker(column: str) -> str:
    """Binance `<COIN>-USDT` -> `<COIN>-USD` (see the module docstring)."""
    return column[:-1] if column.upper().endswith("-USDT") else column


def read_bundled() -> Any:
    """The bundled file as a wide DataFrame with `<COIN>-USD` columns."""
    import pandas as pd

    df = pd.read_csv(bundled_path())
    return df.rename(columns={c: bundled_ticker(c) for c in df.columns if c != "timestamp"})


def cache_dir(cfg: Any, source: str, timeframe: str) -> Path:
    return Path(cfg.paths.data) / source / timeframe


def read_table(path: str | Path) -> Any:
    """A CSV (optionally .gz) or Parquet file as a DataFrame; DataError if unreadable."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: file not found")
    try:
        if p.suffix == ".parquet" or p.name.endswith(".parq"):
            return pd.read_parquet(p)
        return pd.read_csv(p)
    except Exception as e:  # pandas/pyarrow raise many kinds; one line for the operator
        # pandas' tokenizer errors end in a newline; an OSError's text repeats the path
        why = " ".join((e.strerror if isinstance(e, OSError) and e.strerror else str(e)).split())
        raise DataError(f"{p}: cannot read ({type(e).__name__}: {why})") from None


def resample(candles: Candles, timeframe: str) -> Candles:
    """Aggregate to a coarser timeframe (a multiple of the current one); drops partial bars."""
    if timeframe == candles.timeframe:
        return candles
    src, dst = candles.bar_seconds, TIMEFRAME_SECONDS[timeframe]
    if dst < src or dst % src:
        raise DataError(f"cannot make {timeframe} bars from {candles.timeframe} data "
                        "(need a multiple of the stored timeframe)")
    k = dst // src
    first = int(np.argmax(candles.times % dst == 0)) if (candles.times % dst == 0).any() else -1
    if first < 0:
        raise DataError(f"no {timeframe} boundary in the data")
    n = (candles.n_bars - first) // k
    if n < 1:
        raise DataError(f"not enough {candles.timeframe} bars for one {timeframe} bar")
    c = candles.slice(first, first + n * k)

    def groups(a: np.ndarray) -> np.ndarray:
        return a.reshape(n, k, a.shape[1])

    return Candles(
        times=c.times[::k].copy(), tickers=c.tickers,
        close=groups(c.close)[:, -1].copy(),
        open=None if c.open is None else groups(c.open)[:, 0].copy(),
        high=None if c.high is None else groups(c.high).max(axis=1),
        low=None if c.low is None else groups(c.low).min(axis=1),
        volume=None if c.volume is None else groups(c.volume).sum(axis=1),
        timeframe=timeframe)


def _validated(data: Any, cfg: Any, stored_timeframe: str, what: str) -> Candles:
    candles, report = validate(data, tickers=list(cfg.data.tickers), timeframe=stored_timeframe,
                               max_fill_bars=cfg.data.max_fill_bars, min_bars=2)
    _log_report(what, report)
    candles = resample(candles, cfg.data.timeframe)
    if candles.n_bars < cfg.data.min_bars:
        raise DataError(f"{what}: only {candles.n_bars} {cfg.data.timeframe} bars (need "
                        f"[data] min_bars={cfg.data.min_bars})")
    return candles


def _log_report(what: str, report: Report) -> None:
    log.info("%s: %s", what, report)


TIME_COLUMNS = ("timestamp", "time", "date", "datetime", "start", "t")  # as validate() reads


def native_seconds(data: Any) -> int | None:
    """The data's own bar spacing: the smallest step between distinct timestamps (None when
    there is no readable timestamp column or fewer than 2 timestamps: validate() says why)."""
    from engine.data.validate import to_unix_seconds

    cols = {str(c).strip().lower(): c for c in data.columns}
    col = next((cols[n] for n in TIME_COLUMNS if n in cols), None)
    if col is None:
        return None
    ts = np.unique(to_unix_seconds(data[col]))
    ts = ts[np.isfinite(ts)]
    if ts.size < 2:
        return None
    return int(round(float(np.min(np.diff(ts)))))


def _stored_timeframe(cfg: Any, data: Any, what: str) -> str:
    """The timeframe the stored rows are on. Finer data is resampled to the configured
    timeframe; coarser data is refused (validate would otherwise fill each gap between its
    bars forward, e.g. 1h data into eleven flat 5m bars)."""
    want = TIMEFRAME_SECONDS[cfg.data.timeframe]
    native = native_seconds(data)
    if native is None or native == want:
        return str(cfg.data.timeframe)
    name = next((k for k, v in TIMEFRAME_SECONDS.items() if v == native), None)
    if native > want:
        raise DataError(f"{what}: the data has a bar every {name or f'{native}s'}, coarser "
                        f"than [data] timeframe = {cfg.data.timeframe}; set the timeframe to "
                        f"{name or 'its spacing'} or coarser, or use {cfg.data.timeframe} data")
    return name or str(cfg.data.timeframe)  # an odd spacing: validate() names the off-grid rows


def load_candles(cfg: Any) -> Candles:
    """The configured data, validated, restricted to cfg.data.tickers (in that order)."""
    src = cfg.data.source
    tickers = list(cfg.data.tickers)
    if src == "synthetic":
        from engine.data.synthetic import synthetic_candles

        return synthetic_candles(tickers, cfg.data.synthetic_bars, cfg.data.timeframe,
                                 cfg.data.seed)
    if src == "bundled":
        df = read_bundled()
        have = [c for c in df.columns if c != "timestamp"]
        missing = [t for t in tickers if t not in have]
        if missing:
            raise DataError(f"ticker(s) {', '.join(missing)} not in the bundled data (it has "
                            f"{', '.join(have)})")
        return _validated(df, cfg, BUNDLED_TIMEFRAME, "bundled data")
    if src in ("csv", "parquet"):
        if not cfg.data.path:
            raise DataError(f"[data] source = {src!r} needs [data] path")
        df = read_table(cfg.data.path)
        what = str(cfg.data.path)
        return _validated(df, cfg, _stored_timeframe(cfg, df, what), what)
    if src in ("coinbase", "alpaca"):
        return load_cached(cfg, src, cfg.data.timeframe, tickers)
    raise DataError(f"unknown [data] source {src!r}")


def load_cached(cfg: Any, source: str, timeframe: str, tickers: list[str]) -> Candles:
    """The Parquet cache written by `data fetch`, validated."""
    import pandas as pd

    base = cache_dir(cfg, source, timeframe)
    frames = {}
    for t in tickers:
        path = base / f"{t}.parquet"
        if not path.exists():
            raise DataError(f"no cached {source} {timeframe} data for {t} ({path}); run "
                            f"`cappuccino data fetch --source {source} --tickers {t} "
                            f"--timeframe {timeframe}`")
        frames[t] = pd.read_parquet(path)
    candles, report = validate(frames, tickers=tickers, timeframe=timeframe,
                               max_fill_bars=cfg.data.max_fill_bars,
                               min_bars=cfg.data.min_bars)
    _log_report(f"{source} cache", report)
    return candles
