"""`cappuccino-console [--config PATH] [--readonly] [--demo] [--serve]`."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="cappuccino-console",
                                description="Cappuccino operator console")
    p.add_argument("--config", metavar="PATH", help="cappuccino.toml (default: "
                   "$CAPPUCCINO_CONFIG, else ./cappuccino.toml, else built-in defaults)")
    p.add_argument("--readonly", action="store_true",
                   help="watch only: every key that changes anything is off")
    p.add_argument("--demo", action="store_true",
                   help="start the offline demo pipeline and watch it")
    p.add_argument("--serve", action="store_true",
                   help="serve the console in a browser on localhost (textual-serve)")
    p.add_argument("--host", default="localhost", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=8000, help="port for --serve (default 8000)")
    return p.parse_args(argv)


def _ensure_supervisor(cfg: object) -> str | None:
    """Start the supervisor if it is not running; a note for the operator if that failed."""
    try:
        from engine.supervisor.client import ensure_supervisor
    except ImportError:
        return "supervisor client not available; start `cappuccino supervise` yourself"
    try:
        ensure_supervisor(cfg)  # type: ignore[arg-type]
    except Exception as e:  # the console still shows what the store holds
        return f"could not start the supervisor: {e}"
    return None


def _start_demo(cfg: object) -> tuple[object, str | None]:
    """The demo's config, started; when it does not start, still the demo's config: the
    console then shows the demo's store as missing or unreadable, never another store."""
    try:
        from engine.demo import demo_config, start_demo
    except ImportError:
        return cfg, "the offline demo is not available in this build (engine.demo missing)"
    try:
        return start_demo(cfg), None  # type: ignore[arg-type]
    except Exception as e:
        try:
            cfg = demo_config(cfg)  # type: ignore[arg-type]
        except Exception as e2:
            return cfg, f"demo did not start: {e}; its config: {e2}"
        return cfg, f"demo did not start: {e}"


def _demo_fallback(cfg: object) -> tuple[object, str | None]:
    from engine.demo import demo_fallback

    try:
        return demo_fallback(cfg)  # type: ignore[arg-type]
    except Exception as e:  # a broken demo config: stay on the default store, and say so
        return cfg, f"the demo's config could not be read: {e}"


def _serve(args: argparse.Namespace) -> int:
    from textual_serve.server import Server

    cmd = [sys.executable, "-m", "console.main"]
    if args.config:
        cmd += ["--config", os.path.abspath(args.config)]
    if args.readonly:
        cmd.append("--readonly")
    if args.demo:
        cmd.append("--demo")
    Server(shlex.join(cmd), host=args.host, port=args.port,
           title="Cappuccino").serve()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from engine.config import ConfigError, load_config
    from engine.files import private_umask

    private_umask()  # whatever the console creates (and the supervisor it starts) is private
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, os.environ)
    except ConfigError as e:
        print(f"cappuccino-console: {e}", file=sys.stderr)
        return 2
    if args.serve:
        return _serve(args)
    notes = []
    if args.demo:
        cfg, note = _start_demo(cfg)
        if note:
            notes.append(note)
    else:
        cfg, note = _demo_fallback(cfg)
        if note:
            notes.append(note)
        if not args.readonly:
            note = _ensure_supervisor(cfg)
            if note:
                notes.append(note)
    from console.app import CappuccinoApp

    CappuccinoApp(cfg, readonly=args.readonly,  # type: ignore[arg-type]
                  startup_note="; ".join(notes) or None).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
