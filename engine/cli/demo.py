"""`cappuccino demo start|run|stop`: the offline demo without the console."""

from __future__ import annotations

import argparse
import logging
import sys

from engine.cli import Subparsers
from engine.config import Config


def register(sub: Subparsers) -> None:
    p = sub.add_parser("demo", help="the offline demo: bundled data, CPU study, sim paper trader")
    p.add_argument("action", choices=["start", "run", "stop", "status"],
                   help="start: launch it under its own supervisor; run: the orchestrator "
                        "(the supervisor runs this); stop: stop everything of the demo; "
                        "status: the demo's `status --json`")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    from engine import demo

    if args.action == "run":
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return demo.run_demo(cfg)
    if args.action == "start":
        demo_cfg = demo.start_demo(cfg)
        print(f"demo started; its config: {demo_cfg.source}\n"
              f"watch it: cappuccino-console --config {demo_cfg.source}")
        return 0
    from engine.config import load_config

    path = demo.demo_dir(cfg) / "cappuccino.toml"
    if not path.exists():
        print("cappuccino: no demo here (run `cappuccino demo start`)", file=sys.stderr)
        return 1
    from engine.cli.main import main as cli

    demo_cfg = load_config(path)
    if args.action == "status":
        return cli(["--config", str(path), "status", "--json"])
    rc = cli(["--config", demo_cfg.source, "stop", "all"])
    # The demo's supervisor has nothing left to supervise: let it go too.
    import os
    import signal

    from engine.supervisor.client import supervisor_status

    alive, pid = supervisor_status(demo_cfg)
    if alive and pid:
        os.kill(pid, signal.SIGTERM)
        print(f"stopped the demo's supervisor (pid {pid})")
    return rc
