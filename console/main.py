"""`cappuccino-console [--config PATH] [--readonly] [--demo] [--serve [--host H] [--port N]]`."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config import Config


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
                   help="serve the console to a browser on 127.0.0.1, behind a one-time "
                   "token printed at start (textual-serve)")
    p.add_argument("--host", default=None,
                   help="address for --serve to bind (default 127.0.0.1; anything else is "
                   "reachable from the network: prefer an SSH tunnel)")
    p.add_argument("--port", type=int, default=8000,
                   help="port for --serve (default 8000; 0 picks a free one)")
    args = p.parse_args(argv)
    if not args.serve and (args.host is not None or args.port != 8000):
        p.error("--host and --port go with --serve")
    if not 0 <= args.port <= 65535:
        p.error(f"--port {args.port}: not a port number (0-65535)")
    return args


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


def _start_demo(cfg: Config) -> tuple[Config, str | None]:
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
        except Exception as e2:  # both reasons go to the console's notice
            return cfg, f"demo did not start: {e}; its config: {e2}"
        return cfg, f"demo did not start: {e}"


def _demo_fallback(cfg: Config, named: bool) -> tuple[Config, str | None]:
    from engine.demo import demo_fallback

    try:
        return demo_fallback(cfg, named=named)  # type: ignore[arg-type]
    except Exception as e:  # a broken demo config: stay on the default store, and say so
        return cfg, f"the demo's config could not be read: {e}"


def _serve(args: argparse.Namespace) -> int:
    from console.serve import DEFAULT_HOST, host_warning, serve

    # The child is the terminal console under textual's web driver; it gets no token.
    cmd = [sys.executable, "-m", "console.main"]
    if args.config:
        cmd += ["--config", os.path.abspath(args.config)]
    if args.readonly:
        cmd.append("--readonly")
    if args.demo:
        cmd.append("--demo")
    warning = host_warning(args.host)
    if warning:
        print(f"cappuccino-console: {warning}", file=sys.stderr, flush=True)
    return serve(shlex.join(cmd), host=args.host or DEFAULT_HOST, port=args.port)


def main(argv: Sequence[str] | None = None) -> int:
    from engine.config import ConfigError, load_config
    from engine.config.load import ENV_CONFIG
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
        cfg, note = _demo_fallback(cfg, bool(args.config or os.environ.get(ENV_CONFIG)))
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
