"""`cappuccino data fetch|info|validate`: market data into the cache, and what is there."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.cli import Subparsers
from engine.cli.errors import JobError, UsageError, why_of
from engine.config import Config

if TYPE_CHECKING:
    import pandas as pd


def register(sub: Subparsers) -> None:
    p = sub.add_parser("data", help="fetch, list and validate market data")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    f = dsub.add_parser("fetch", help="download candles into the Parquet cache (resumable)")
    f.add_argument("--source", choices=("coinbase", "alpaca"), default="coinbase")
    f.add_argument("--tickers", default="", help="comma-separated, e.g. BTC-USD,ETH-USD "
                   "(default: [data] tickers)")
    f.add_argument("--timeframe", default="", help="1m 5m 15m 30m 1h 2h 6h 1d "
                   "(default: [data] timeframe)")
    f.add_argument("--days", type=float, default=0, help="history to fetch (default: [data] days)")
    f.add_argument("--base-url", default="", help="API host (default: [coinbase] base_url or "
                   "[alpaca] data_url_override); plain http only for 127.0.0.1/localhost")
    f.add_argument("--no-progress", action="store_true", help="no progress bar")
    f.set_defaults(func=run_fetch)

    i = dsub.add_parser("info", help="what data is bundled and cached")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=run_info)

    v = dsub.add_parser("validate", help="check a CSV/Parquet file and report what would be repaired")
    v.add_argument("file")
    v.add_argument("--timeframe", default="", help="default: [data] timeframe")
    v.add_argument("--tickers", default="", help="only these (comma-separated)")
    v.set_defaults(func=run_validate)


def _tickers(raw: str, cfg: Config) -> list[str]:
    from engine.brokers.symbols import check_ticker

    tickers = [t.strip().upper() for t in raw.split(",") if t.strip()] or list(cfg.data.tickers)
    try:
        return [check_ticker(t) for t in tickers]
    except ValueError as e:
        raise UsageError(f"--tickers: {e}") from None


def _timeframe(raw: str, cfg: Config) -> str:
    from engine.data.candles import TIMEFRAME_SECONDS

    tf = raw or cfg.data.timeframe
    if tf not in TIMEFRAME_SECONDS:
        raise UsageError(f"--timeframe {tf!r}: expected one of {', '.join(TIMEFRAME_SECONDS)}")
    return tf


def run_fetch(args: argparse.Namespace, cfg: Config) -> int:
    from engine.data import alpaca, coinbase
    from engine.data.candles import DataError
    from engine.data.fetch import fetch_candles

    tickers = _tickers(args.tickers, cfg)
    tf = _timeframe(args.timeframe, cfg)
    days = args.days or cfg.data.days
    if days <= 0:
        raise UsageError("--days must be positive")
    try:
        if args.source == "coinbase":
            client = coinbase.make_client(args.base_url or cfg.coinbase.base_url)
            if tf not in coinbase.GRANULARITY:
                raise UsageError(f"Coinbase has no {tf} candles")

            def fetcher(t: str, s: int, e: int) -> pd.DataFrame:
                return coinbase.fetch_chunk(client, t, tf, s, e)

            chunk_bars, interval = coinbase.CHUNK_BARS, 0.11  # public limit: 10 requests/s
        else:
            from engine.brokers.alpaca import check_override

            # plain http only to this machine, as for the trader: no bars from the wire
            url = check_override(args.base_url or cfg.alpaca.data_url_override, "--base-url")
            client = alpaca.make_client(url or "")

            def fetcher(t: str, s: int, e: int) -> pd.DataFrame:
                return alpaca.fetch_chunk(client, t, tf, s, e)

            chunk_bars, interval = alpaca.CHUNK_BARS, 0.35  # 200 requests/min
    except ValueError as e:
        raise UsageError(f"--base-url: {e}") from None
    try:
        result = fetch_candles(args.source, tickers, tf, days, Path(cfg.paths.data), fetcher,
                               chunk_bars, max_fill_bars=cfg.data.max_fill_bars,
                               min_bars=min(cfg.data.min_bars, 10),
                               progress=not args.no_progress, min_interval_s=interval)
    except DataError as e:
        raise JobError(str(e)) from None
    print(f"fetched {result.fetched} requests, {result.cached} chunks were cached")
    for path in result.paths:
        print(f"  {path}")
    print(f"validation: {result.report}")
    return 0


def run_info(args: argparse.Namespace, cfg: Config) -> int:
    from engine.data.fetch import cache_summary
    from engine.data.load import BUNDLED_TIMEFRAME, bundled_path, read_bundled

    df = read_bundled()
    bundled: dict[str, Any] = {"path": str(bundled_path()), "timeframe": BUNDLED_TIMEFRAME, "bars": len(df),
               "first": str(df["timestamp"].iloc[0]), "last": str(df["timestamp"].iloc[-1]),
               "tickers": [c for c in df.columns if c != "timestamp"],
               "fields": ["close"], "note": "Binance <COIN>-USDT shown as <COIN>-USD"}
    cached = cache_summary(Path(cfg.paths.data))
    doc = {"configured": {"source": cfg.data.source, "tickers": list(cfg.data.tickers),
                          "timeframe": cfg.data.timeframe},
           "bundled": bundled, "cache_dir": cfg.paths.data, "cached": cached}
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"configured: source={cfg.data.source} timeframe={cfg.data.timeframe} "
          f"tickers={','.join(cfg.data.tickers)}")
    print(f"bundled: {bundled['bars']} {BUNDLED_TIMEFRAME} bars, {bundled['first']} .. "
          f"{bundled['last']}, close only; {', '.join(bundled['tickers'])}")
    print(f"cache: {cfg.paths.data}")
    if not cached:
        print("  (empty; `cappuccino data fetch` fills it)")
    for row in cached:
        if "error" in row:
            print(f"  {row['source']:8s} {row['timeframe']:4s} {row['ticker']:12s} "
                  f"unreadable: {row['error']}")
        else:
            print(f"  {row['source']:8s} {row['timeframe']:4s} {row['ticker']:12s} "
                  f"{row['bars']:>8d} bars  {row['first']} .. {row['last']}")
    return 0


def run_validate(args: argparse.Namespace, cfg: Config) -> int:
    from engine.data.candles import DataError
    from engine.data.load import read_table
    from engine.data.validate import validate

    tf = _timeframe(args.timeframe, cfg)
    tickers = [t.strip() for t in args.tickers.split(",") if t.strip()] or None
    if not Path(args.file).exists():  # as `backtest --data`: a wrong path is bad usage (2);
        raise UsageError(f"{args.file}: file not found")  # a rejected file is the verdict (1)
    try:
        df = read_table(args.file)
        _candles, report = validate(df, tickers=tickers, timeframe=tf,
                                    max_fill_bars=cfg.data.max_fill_bars, min_bars=2)
    except DataError as e:
        print(f"cappuccino: {args.file}: rejected: {why_of(args.file, e)}", file=sys.stderr)
        return 1
    print(f"{args.file}: {report}")
    return 0
