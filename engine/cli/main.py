"""Entry point for `cappuccino`: global options, config loading, exit codes.

Exit codes (design.md): 0 ok, 1 the job failed, 2 bad usage or bad configuration. A reader
that closes the pipe early (`cappuccino ps | head -1`) ends the command quietly, exit 0.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from engine.cli.errors import JobError, UsageError
from engine.config import ConfigError, load_config
from engine.config.load import ENV_CONFIG
from engine.files import private_umask
from engine.names import UnknownName

# Subcommand modules, in help order. Each has register(subparsers).
MODULES = (
    "status", "procs", "supervise", "train", "worker", "trade", "monitor", "sample", "notify",
    "data", "promote", "trading_state", "exits", "bench", "check", "report", "export",
    "conviction", "doctor", "compact", "demo", "study", "soak", "telegram", "backtest",
)
# Commands that read or steer what runs: with no config named (a ./cappuccino.toml is not
# named: a checkout ships the reference one) and no store, they use the demo's store
# (saying so on stderr) rather than an empty one (engine.demo).
DEMO_FALLBACK_COMMANDS = frozenset({
    "status", "ps", "logs", "report", "export", "stop", "start", "restart", "kill", "halt",
    "resume", "promote", "doctor", "exit", "study"})


class _Parser(argparse.ArgumentParser):
    """Bad usage is one line on stderr (which command, what was wrong) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cappuccino", description=__doc__.splitlines()[0])
    parser.add_argument("--config", metavar="PATH", help="config file (default: "
                        "$CAPPUCCINO_CONFIG, else ./cappuccino.toml, else embedded defaults)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=_Parser)
    for name in MODULES:
        importlib.import_module(f"engine.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            code = _main(argv)
        except SystemExit:  # argparse's --help and usage errors
            sys.stdout.flush()
            raise
        sys.stdout.flush()  # a closed pipe shows here when the output was buffered
        return code
    except BrokenPipeError:
        return _closed_pipe()


def _closed_pipe() -> int:
    """The reader went away (`cappuccino ps | head -1`): stop quietly. stdout now points at
    /dev/null so the interpreter's final flush cannot complain either."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return 0


def _main(argv: Sequence[str] | None = None) -> int:
    private_umask()  # logs, models, the run folder, the store: the operator's alone
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config)
        if args.command in DEMO_FALLBACK_COMMANDS:
            from engine.demo import demo_fallback

            named = bool(args.config or os.environ.get(ENV_CONFIG))
            cfg, note = demo_fallback(cfg, named=named)
            if note:
                print(f"cappuccino: {note}", file=sys.stderr)
        return int(args.func(args, cfg) or 0)
    except BrokenPipeError:
        raise
    except ConfigError as e:
        print(f"cappuccino: config error: {e}", file=sys.stderr)
        return 2
    except UsageError as e:
        print(f"cappuccino: {e}", file=sys.stderr)
        return 2
    except UnknownName as e:  # a process, trader, study or trial the store does not know
        print(f"cappuccino: {e}", file=sys.stderr)
        return 2
    except JobError as e:
        print(f"cappuccino: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as e:  # a path from the config that cannot be created, read or written
        where = f"{e.filename}: " if e.filename else ""
        print(f"cappuccino: {where}{e.strerror or e} (check the config's [paths] and "
              "[store] entries and their permissions)", file=sys.stderr)
        return 1
    except Exception as e:  # StoreError and friends: one line, no traceback
        from store.db import StoreError
        if isinstance(e, StoreError):
            print(f"cappuccino: store error: {e}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
