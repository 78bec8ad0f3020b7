"""`cappuccino worker --study S --trial N`: run one trial (started by `cappuccino train`).

Test-only fault injection: the CAPPUCCINO_FAULT environment variable (engine.study.faults).
"""

from __future__ import annotations

import argparse

from engine.cli import Subparsers
from engine.cli.errors import UsageError
from engine.cli.train import apply_overrides
from engine.config import Config
from engine.study.request import TIMEFRAMES


def register(sub: Subparsers) -> None:
    p = sub.add_parser("worker", help="run one study trial (started by `train`)",
                       description=__doc__.splitlines()[0])
    p.add_argument("--study", required=True)
    p.add_argument("--trial", type=int, required=True)
    p.add_argument("--timeframe", choices=TIMEFRAMES)
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: [runtime] device)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    cfg = apply_overrides(cfg, args.timeframe, args.device)
    from engine.study.worker import main

    try:
        return main(cfg, args.study, args.trial)
    except KeyError as e:  # Optuna's "Record does not exist": a name it does not know
        raise UsageError(f"study {args.study!r} has no trial {args.trial} in the study "
                         f"storage ({e})") from None
