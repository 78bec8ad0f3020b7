"""`cappuccino monitor [--once] [--json]`: live Sharpe vs backtest Sharpe, alerts, auto-stop."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from engine.cli import Subparsers
from engine.config import Config


def register(sub: Subparsers) -> None:
    p = sub.add_parser("monitor", help="performance monitor daemon (alert levels, auto-stop)")
    p.add_argument("--once", action="store_true", help="run one cycle, print verdicts, exit")
    p.add_argument("--json", action="store_true", help="with --once: print the verdicts as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    from dataclasses import asdict

    from engine.monitor import daemon

    logging.basicConfig(level=logging.INFO, stream=sys.stderr if args.json else sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    verdicts = daemon.run(cfg, once=args.once)
    if args.once:
        if args.json:
            print(json.dumps([asdict(v) for v in verdicts], indent=2))
        elif not verdicts:
            print("no paper or live traders")
    return 0
