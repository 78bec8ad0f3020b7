"""`cappuccino report --period day|week|month [--trader NAME] [--html FILE]`."""

from __future__ import annotations

import argparse
import sys

from engine.cli import Subparsers
from engine.cli.errors import JobError, UsageError
from engine.config import Config


def register(sub: Subparsers) -> None:
    p = sub.add_parser("report", help="per-trader performance report (terminal or HTML)")
    p.add_argument("--period", default="day", choices=["day", "week", "month"])
    p.add_argument("--trader", help="only this trader")
    p.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report")
    p.add_argument("--end", type=float, help=argparse.SUPPRESS)  # tests: fixed period end
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    from pathlib import Path

    from engine.cli.status import store_missing
    from engine.names import no_store
    from engine.reports.report import ReportError, build_reports, render_text
    from engine.runtime import open_store

    if args.html and not Path(args.html).resolve().parent.is_dir():
        raise UsageError(f"{args.html}: folder {Path(args.html).parent} does not exist")
    if args.trader is not None and store_missing(cfg):
        raise no_store("trader", args.trader, cfg.store.path)
    store = open_store(cfg, create=False)
    try:
        reports = build_reports(store, args.period, args.trader, end=args.end)
    except ReportError as e:
        raise JobError(str(e)) from None
    finally:
        store.close()
    sys.stdout.write(render_text(reports))
    if args.html:
        from engine.reports.html import write_html

        try:
            out = write_html(reports, args.html, args.period)
        except OSError as e:
            raise JobError(f"{args.html}: cannot write ({e.strerror})") from None
        print(f"wrote {out}", file=sys.stderr)
    return 0
