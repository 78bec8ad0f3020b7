"""`cappuccino export fills|orders|equity|decisions|alerts|attempts|trades --format csv|parquet`.

`trades` are round trips paired from the fills (engine.reports.trades)."""

from __future__ import annotations

import argparse
import sys

from engine.cli import Subparsers
from engine.cli.errors import JobError, UsageError
from engine.config import Config


def register(sub: Subparsers) -> None:
    from engine.reports.export import TABLES

    p = sub.add_parser("export", help="export a store table as CSV or Parquet")
    p.add_argument("what", choices=sorted(TABLES))
    p.add_argument("--format", default="csv", choices=["csv", "parquet"])
    p.add_argument("--since", help="UTC date or timestamp, e.g. 2026-11-01")
    p.add_argument("--trader", help="only this trader's rows")
    p.add_argument("-o", "--output", default="-", help="file to write, or - for stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    from pathlib import Path

    from engine.cli.status import store_missing
    from engine.names import no_store
    from engine.reports.export import TABLES, ExportError, load_frame, parse_since, write_frame
    from engine.runtime import open_store

    try:  # a bad --since is bad usage (exit 2), found before the store is opened
        since = parse_since(args.since) if args.since else None
    except ExportError as e:
        raise UsageError(str(e)) from None
    # Bad usage is told before the store is read (exit 2); an empty result is the job's (1).
    if args.trader is not None and TABLES[args.what].trader_column is None:
        raise UsageError(f"{args.what} has no trader column; drop --trader")
    out = Path(args.output)
    if args.output != "-" and not out.parent.is_dir():
        raise UsageError(f"{out}: folder {out.parent} does not exist")
    if args.trader is not None and store_missing(cfg):
        raise no_store("trader", args.trader, cfg.store.path)
    store = open_store(cfg, create=False)
    try:
        frame = load_frame(store, args.what, since=since, trader=args.trader)
        write_frame(frame, args.what, args.format, args.output)
    except ExportError as e:
        raise JobError(str(e)) from None
    finally:
        store.close()
    if args.output != "-":
        print(f"wrote {len(frame)} {args.what} rows to {args.output}", file=sys.stderr)
    return 0
