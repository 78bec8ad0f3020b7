"""`cappuccino bench [--quick] [--json] [--only NAME,...]`."""

from __future__ import annotations

import argparse
import json

from engine.cli import Subparsers
from engine.config import Config


def register(sub: Subparsers) -> None:
    p = sub.add_parser("bench", help="measure every benchmark figure the issues name")
    p.add_argument("--quick", action="store_true", help="smaller sizes, for CI smoke runs")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--only", default="", help="comma-separated bench modules")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    from engine.bench import BENCH_MODULES
    from engine.bench.runner import run_all
    from engine.cli.errors import UsageError

    only = [x for x in args.only.split(",") if x] or None
    unknown = sorted(set(only or ()) - set(BENCH_MODULES))
    if unknown:
        raise UsageError(f"--only: unknown bench module {unknown[0]!r} "
                         f"(one of {', '.join(BENCH_MODULES)})")
    doc = run_all(quick=args.quick, only=only)
    if args.json:
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        for name, r in sorted(doc["results"].items()):
            ratio = f"  ratio {r['ratio']:.2f}" if r.get("ratio") is not None else ""
            print(f"{name:32s} {r['value']:>14.4g} {r['unit']}{ratio}")
        for name, err in doc.get("errors", {}).items():
            print(f"{name:32s} ERROR {err}")
    return 1 if doc.get("errors") else 0
