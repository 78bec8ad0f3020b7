"""`cappuccino halt [NAME|--all]` and `cappuccino resume [NAME|--all]`: the kill switch.

The flags are written straight into the store (the kill switch must work while the
supervisor is down), and the action is recorded in the commands table as done, for audit.
"""

from __future__ import annotations

import argparse

from engine.cli import Subparsers
from engine.cli.errors import UsageError
from engine.config import Config


def register(sub: Subparsers) -> None:
    for name, helptext in (("halt", "halt a trader, or every trader (the kill switch)"),
                           ("resume", "let a halted trader, or every trader, trade again")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("trader", nargs="?", default=None, help="trader name")
        p.add_argument("--all", action="store_true", help="every trader (global kill switch)")
        p.set_defaults(func=run, action=name)


def run(args: argparse.Namespace, cfg: Config) -> int:
    from engine.cli.status import store_missing
    from engine.names import no_store
    from engine.runtime import open_store
    from engine.trading.control import halt, resume_trading
    from store.commands import record_done

    if bool(args.trader) == bool(args.all):
        raise UsageError(f"{args.action}: give a trader name or --all (not both)")
    target = None if args.all else args.trader
    if target is not None and store_missing(cfg):  # no trader yet: say so, create nothing
        raise UsageError(f"{args.action}: {no_store('trader', target, cfg.store.path)}")
    store = open_store(cfg)  # --all with no store yet: the switch holds future traders too
    try:
        try:
            msg = (halt if args.action == "halt" else resume_trading)(store, target)
        except ValueError as e:
            raise UsageError(f"{args.action}: {e}") from None
        action = "halt_all" if args.action == "halt" else "resume"
        record_done(store, action, target, {"direct": True}, msg)
    finally:
        store.close()
    print(msg)
    return 0
