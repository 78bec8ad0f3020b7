"""`cappuccino notify [--once] [--test] [--pending]`: the notifier daemon (outbox → apprise)."""

from __future__ import annotations

import argparse
import logging
import sys

from engine.cli import Subparsers
from engine.cli.errors import JobError
from engine.config import Config


def register(sub: Subparsers) -> None:
    p = sub.add_parser("notify", help="notifier daemon: send the outbox through apprise")
    p.add_argument("--once", action="store_true", help="send what is due once, then exit")
    p.add_argument("--test", action="store_true",
                   help="push one test message straight to the apprise URLs and report")
    p.add_argument("--pending", action="store_true", help="list unsent outbox rows and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.test:
        return _test(cfg)
    if args.pending:
        return _pending(cfg)
    from engine.notify import daemon

    result = daemon.run(cfg, once=args.once)
    if args.once:
        print(f"sent {result.sent}, failed {result.failed}")
    return 0


def _test(cfg: Config) -> int:
    from engine.config.secrets import load_secrets
    from engine.notify.redact import Redactor
    from engine.notify.sender import AppriseTransport

    secrets = load_secrets(cfg.secrets.key_file)
    if not secrets.apprise_list:
        raise JobError("no apprise URLs: set CAPPUCCINO_APPRISE_URLS or apprise_urls in the "
                       "key file ([secrets] key_file)")
    transport = AppriseTransport(secrets.apprise_list)
    if transport.bad:
        raise JobError(f"{len(transport.bad)} apprise URL(s) not understood (check the scheme)")
    ok, error = transport("Cappuccino test", "Test notification from `cappuccino notify --test`.",
                          "info")
    if not ok:
        raise JobError(f"test notification failed: {Redactor(secrets)(error)}")
    print(f"test notification sent to {transport.count} service(s)")
    return 0


def _pending(cfg: Config) -> int:
    from engine.runtime import open_store
    from store.db import now
    from store.outbox import due

    store = open_store(cfg)
    try:
        rows = due(store, now() + 10 * 365 * 86400.0, limit=1000)
    finally:
        store.close()
    for r in rows:
        err = f"  last error: {r.last_error}" if r.last_error else ""
        print(f"#{r.id} {r.event:12s} attempts {r.attempts} {r.title}{err}")
    print(f"{len(rows)} unsent")
    return 0
