"""`cappuccino doctor [--notify] [--fix-modes]`: check the installation in one command."""

from __future__ import annotations

import argparse

from engine.cli import Subparsers
from engine.config import Config


def register(sub: Subparsers) -> None:
    p = sub.add_parser("doctor", help="check packages, CUDA, NVML, store, disk, keys, supervisor")
    p.add_argument("--notify", action="store_true", help="also send a test notification")
    p.add_argument("--fix-modes", action="store_true",
                   help="remove group/other permissions from the store, logs, models, run "
                        "folder and key file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    from engine.reports.doctor import run_checks

    checks = run_checks(cfg, send_notification=args.notify, fix_modes=args.fix_modes)
    for c in checks:
        print(f"{c.status.upper():4s}  {c.name:11s} {c.detail}")
    return 1 if any(c.status == "fail" for c in checks) else 0
