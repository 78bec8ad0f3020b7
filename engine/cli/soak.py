"""`cappuccino soak [--minutes N] [--kill-rounds K] [--trading-kill-rounds R] [--clock-steps S]
[--dir DIR]`: the store soak, for operators.

It runs in a throwaway installation of its own (never the configured store): first
everything at once for N minutes (supervisor and its services, a sim trader, counting
writers, CLI processes in a loop, halt/resume/restart commands, SIGKILLs of the supervisor),
then two sim traders on one store with one SIGKILLed K times, then (R > 0) a trader on the
Coinbase and on the Alpaca fake SIGKILLed R times each (engine.soak.venues), then (S > 0) the
wall clock of the supervisor and its services stepped an hour forward and back S times
(engine.soak.clockstep). 0 skips a phase.
Exit 0 when the store came out whole, 1 with each finding on its own line. The folder is kept
when there is a finding.
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
                   help="how long everything runs at once (default 2; 0 skips)")
    p.add_argument("--kill-rounds", type=int, default=40, metavar="K",
                   help="SIGKILLs of one of two sim traders sharing the store (default 40; "
                        "0 skips)")
    p.add_argument("--trading-kill-rounds", type=int, default=0, metavar="R",
                   help="SIGKILLs of a trader on the Coinbase and on the Alpaca fake, each "
                        "(default 0: skipped; the issue's check is 20); needs a source "
                        "checkout with the test extras")
    p.add_argument("--clock-steps", type=int, default=0, metavar="S",
                   help="wall-clock steps (an hour forward, then back) under the supervisor "
                        "and its services (default 0: skipped); needs a source checkout")
    p.add_argument("--dir", metavar="DIR", help="where to run (default: a new temp folder)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    from engine.soak.clockstep import run_clock_steps
    from engine.soak.fills import run_fill_kills
    from engine.soak.mixed import run_mixed
    from engine.soak.venues import VENUES, FakesMissing, load_fakes, run_venue_kills
    from engine.soak.workdir import ROOT

    if not 0 <= args.minutes <= 24 * 60:
        raise UsageError("--minutes must be between 0 and 1440")
    if not 0 <= args.kill_rounds <= 10_000:
        raise UsageError("--kill-rounds must be between 0 and 10000")
    if not 0 <= args.trading_kill_rounds <= 10_000:
        raise UsageError("--trading-kill-rounds must be between 0 and 10000")
    if not 0 <= args.clock_steps <= 10_000:
        raise UsageError("--clock-steps must be between 0 and 10000")
    if not (args.minutes or args.kill_rounds or args.trading_kill_rounds or args.clock_steps):
        raise UsageError("nothing to run: --minutes, --kill-rounds, --trading-kill-rounds "
                         "and --clock-steps are all 0")
    if args.trading_kill_rounds:
        try:
            load_fakes()
        except FakesMissing as e:
            raise UsageError(f"--trading-kill-rounds: {e}") from None
    if args.clock_steps and not (ROOT / "tests" / "fakes" / "clockshift").is_dir():
        raise UsageError("--clock-steps: the clock shim tests/fakes/clockshift is missing: "
                         "run it from a source checkout")
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="cappuccino-soak-"))
    if args.dir and root.exists() and any(root.iterdir()):
        raise UsageError(f"--dir {root}: not empty (the soak makes its own installation)")

    def say(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    findings: list[str] = []
    counts: dict[str, object] = {}
    if args.minutes:
        report = run_mixed(root / "mixed", args.minutes * 60, say=say)
        findings += report.findings
        counts.update(report.counts)
    if args.kill_rounds:
        found, fills = run_fill_kills(root / "fills", args.kill_rounds, say=say)
        findings += found
        counts |= {"kill_rounds": args.kill_rounds, "two_trader_fills_compared": fills}
    for venue in VENUES if args.trading_kill_rounds else ():
        v = run_venue_kills(root / venue, venue, args.trading_kill_rounds, say=say)
        findings += v.findings
        counts |= {f"{venue}_kill_rounds": v.rounds, f"{venue}_orders": v.orders,
                   f"{venue}_fills": v.fills}
    if args.clock_steps:
        c = run_clock_steps(root / "clock", args.clock_steps, say=say)
        findings += c.findings
        counts |= {"clock_steps": c.steps, "clock_samples_after": c.samples,
                   "clock_notifications": c.notifications}
    print("soak: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if findings:
        for f in findings:
            print(f"FINDING {f}")
        print(f"soak: {len(findings)} finding(s); its files are in {root}")
        return 1
    checked = [what for what, ran in (
        ("integrity ok, no committed row missing, -wal kept", args.minutes),
        ("fills equal", args.kill_rounds),
        ("no order twice, books equal the exchanges", args.trading_kill_rounds),
        ("no service restarted by a clock step, samples and notifications went on",
         args.clock_steps)) if ran]
    print(f"soak: clean ({', '.join(checked)})")
    if not args.dir:
        shutil.rmtree(root, ignore_errors=True)
    return 0
