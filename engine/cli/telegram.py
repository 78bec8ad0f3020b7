"""`cappuccino telegram`: the phone-control bot (a supervised service, off by default)."""

from __future__ import annotations

import argparse
import logging
import sys

from engine.cli import Subparsers
from engine.cli.errors import UsageError
from engine.config import Config


def register(sub: Subparsers) -> None:
    p = sub.add_parser("telegram", help="phone control: a Telegram bot for /status /halt ...")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    from engine.config.secrets import load_secrets
    from engine.telegram.daemon import NotConfigured, check_configured
    from engine.telegram.daemon import run as run_bot

    secrets = load_secrets(cfg.secrets.key_file)  # ConfigError: one line, exit 2
    try:
        check_configured(cfg, secrets)
    except NotConfigured as e:
        raise UsageError(str(e)) from None
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_bot(cfg, secrets)
    return 0
