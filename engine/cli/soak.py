"""`cappuccino soak [--minutes N] [--kill-rounds K] [--dir DIR]`: the store soak, for operators.

It runs in a throwaway installation of its own (never the configured store): first
everything at once for N minutes (supervisor and its services, a sim trader, counting
writers, CLI processes in a loop, halt/resume/restart commands, SIGKILLs of the supervisor),
then two sim traders on one store with one SIGKILLed K times. Exit 0 when the store came
out whole, 1 with each finding on its own line. The folder is kept when there is a finding.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from engine.cli import Subparsers
from engine.cli.errors import UsageError
from engine.config import Config


def register(sub: Subparsers) -> None:
    p = sub.add_parser("soak", help="stress the store with real processes and check it is whole")
    p.add_argument("--minutes", type=float, default=2.0,
                   help="how long everything runs at once (default 2)")
    p.add_argument("--kill-rounds", type=int, default=40, metavar="K",
                   help="SIGKILLs of one of two sim traders sharing the store (default 40; "
                        "0 skips)")
    p.add_argument("--dir", metavar="DIR", help="where to run (default: a new temp folder)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    from engine.soak.fills import run_fill_kills
    from engine.soak.mixed import run_mixed

    if not 0 < args.minutes <= 24 * 60:
        raise UsageError("--minutes must be > 0 and at most 1440")
    if not 0 <= args.kill_rounds <= 10_000:
        raise UsageError("--kill-rounds must be between 0 and 10000")
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="cappuccino-soak-"))
    if args.dir and root.exists() and any(root.iterdir()):
        raise UsageError(f"--dir {root}: not empty (the soak makes its own installation)")

    def say(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    report = run_mixed(root / "mixed", args.minutes * 60, say=say)
    findings = list(report.findings)
    counts = dict(report.counts)
    if args.kill_rounds:
        found, fills = run_fill_kills(root / "fills", args.kill_rounds, say=say)
        findings += found
        counts |= {"kill_rounds": args.kill_rounds, "two_trader_fills_compared": fills}
    print("soak: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if findings:
        for f in findings:
            print(f"FINDING {f}")
        print(f"soak: {len(findings)} finding(s); its files are in {root}")
        return 1
    print("soak: clean (integrity ok, no committed row missing, -wal kept, fills equal)")
    if not args.dir:
        shutil.rmtree(root, ignore_errors=True)
    return 0
