"""`cappuccino exit --trader NAME [--ticker X]`: sell a position (or all of a trader's) to flat.

Like `halt`, the request is written straight into the store (it must work while the
supervisor is down) and recorded in the commands table as done, for audit; the trader
acts on it at its next bar (engine.trading.exits).
"""

from __future__ import annotations

import argparse
import re

from engine.cli import Subparsers
from engine.cli.errors import UsageError
from engine.config import Config

TICKER = re.compile(r"^[A-Z0-9]{1,12}-[A-Z0-9]{2,12}$")


def register(sub: Subparsers) -> None:
    p = sub.add_parser("exit", help="sell a trader's position (or every one) to flat")
    p.add_argument("--trader", required=True, help="trader name")
    p.add_argument("--ticker", help="only this position, e.g. BTC-USD (default: every one)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    from engine.cli.status import store_missing
    from engine.names import no_store
    from engine.runtime import open_store
    from engine.trading.control import request_exit
    from store.commands import record_done

    if args.ticker is not None and not TICKER.match(args.ticker):
        raise UsageError(f"exit: --ticker must look like BTC-USD, got {args.ticker!r}")
    if store_missing(cfg):
        raise UsageError(f"exit: {no_store('trader', args.trader, cfg.store.path)}")
    store = open_store(cfg, create=False)
    try:
        try:
            msg = request_exit(store, args.trader, args.ticker)
        except ValueError as e:
            raise UsageError(f"exit: {e}") from None
        args_doc = {"ticker": args.ticker} if args.ticker else {}
        record_done(store, "exit", args.trader, args_doc, msg)
    finally:
        store.close()
    print(msg)
    return 0
