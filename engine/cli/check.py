"""`cappuccino check coinbase|alpaca`: verify keys and connectivity without trading."""

from __future__ import annotations

import argparse

from engine.cli import Subparsers
from engine.config import Config


def register(sub: Subparsers) -> None:
    p = sub.add_parser("check", help="verify exchange credentials and connectivity "
                       "(no orders are placed)")
    p.add_argument("venue", choices=["coinbase", "alpaca"], help="which exchange to check")
    p.add_argument("--tickers", metavar="A,B", help="tickers to check (default: [trader] "
                   "tickers)")
    p.add_argument("--max-skew", type=float, metavar="S", help="allowed clock skew in seconds "
                   "(default: [coinbase|alpaca] max_clock_skew_s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    from engine.brokers.symbols import check_ticker
    from engine.check import CheckResult, check_alpaca, check_coinbase, format_result
    from engine.cli.errors import UsageError
    from engine.config import ConfigError
    from engine.config.secrets import load_secrets, redact

    tickers = None
    if args.tickers:
        try:
            tickers = [check_ticker(t.strip().upper()) for t in args.tickers.split(",")
                       if t.strip()]
        except ValueError as e:
            raise UsageError(str(e)) from None
    if args.max_skew is not None and args.max_skew <= 0:
        raise UsageError("--max-skew must be positive")
    try:
        secrets = load_secrets(cfg.secrets.key_file)
    except ConfigError as e:
        print(format_result(CheckResult("key file", "FAIL", str(e))))
        return 1
    fn = check_coinbase if args.venue == "coinbase" else check_alpaca
    results = fn(cfg, secrets, tickers, max_skew_s=args.max_skew)
    for r in results:
        print(redact(format_result(r), secrets), flush=True)
    failed = sum(r.failed for r in results)
    print(f"{args.venue}: {'all checks passed' if not failed else f'{failed} check(s) failed'}")
    return 1 if failed else 0
