"""`cappuccino promote`: trial -> paper, paper -> live, and capital steps, through the gates.

  cappuccino promote --to paper --trial N [--study S] [--name NAME] [--capital X]
  cappuccino promote --to paper --model ensemble:K [--study S]
  cappuccino promote --to live --trader NAME [--capital X]
  cappuccino promote --capital X --trader NAME
  ... [--force --reason TEXT]   override failed gates (recorded)
  ... --check                   show the gates with their current values; change nothing

Prints every gate with its value and threshold. A refusal exits 1 with the failed gates.
"""

from __future__ import annotations

import argparse
import json

from engine.cli.errors import JobError, UsageError
from engine.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("promote", help="promote a trial to paper, a paper trader to live, or "
                       "change a live trader's capital (gates enforced and recorded)")
    p.add_argument("--to", choices=("paper", "live"), help="promotion target")
    p.add_argument("--trial", type=int, help="trial number (to paper)")
    p.add_argument("--study", help="study name (default: [study] name)")
    p.add_argument("--model", help="ensemble:K for the top-k ensemble (to paper)")
    p.add_argument("--trader", help="the paper trader (to live) or the trader (capital)")
    p.add_argument("--name", help="name of the new trader (default derived)")
    p.add_argument("--capital", type=float, help="capital in quote currency")
    p.add_argument("--force", action="store_true", help="override failed gates (needs --reason)")
    p.add_argument("--reason", help="why the gates are overridden (recorded)")
    p.add_argument("--wait", type=float, default=30.0,
                   help="seconds to wait for the supervisor to start the trader (0: don't)")
    p.add_argument("--check", action="store_true",
                   help="only show the gates and their current values (nothing is recorded)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(func=run)


def _request(args: argparse.Namespace):  # -> engine.promote.Request
    from engine.promote import Request

    if args.force and not (args.reason or "").strip():
        raise UsageError("--force needs --reason TEXT (the override is recorded)")
    if args.to is None:
        if args.capital is None or not args.trader:
            raise UsageError("give --to paper|live, or --capital X --trader NAME")
        to = "capital"
    else:
        to = args.to
    if to == "paper" and args.trial is None and not (args.model or "").startswith("ensemble:"):
        raise UsageError("--to paper needs --trial N or --model ensemble:K")
    if to == "live" and not args.trader:
        raise UsageError("--to live needs --trader NAME (a paper trader)")
    if args.capital is not None and args.capital <= 0:
        raise UsageError(f"--capital must be positive, got {args.capital:g}")
    return Request(to=to, study=args.study, trial=args.trial, model=args.model,
                   trader=args.trader, name=args.name, capital=args.capital, force=args.force,
                   reason=args.reason, source="cli")


def run(args: argparse.Namespace, cfg: Config) -> int:
    from engine.promote import PromotionError, PromotionRefused, promote
    from engine.runtime import open_store

    req = _request(args)
    if args.check:
        return _check(cfg, req, args.json)
    store = open_store(cfg)
    try:
        try:
            out = promote(cfg, store, req)
        except PromotionRefused as e:
            for g in e.gates:
                print("  " + g.describe())
            raise JobError(str(e)) from None
        except PromotionError as e:
            raise UsageError(str(e)) from None
    finally:
        store.close()
    if args.json:
        print(json.dumps({"promotion": out.promotion_id, "kind": out.kind, "trader": out.trader,
                          "passed": out.passed, "forced": out.forced, "command": out.command_id,
                          "gates": [g.to_json() for g in out.gates]}, indent=2))
    else:
        for g in out.gates:
            print("  " + g.describe())
        print(out.message + (" [FORCED]" if out.forced else ""))
    if out.command_id is not None and args.wait > 0:
        _wait(cfg, out.command_id, args.wait)
    return 0


def _check(cfg: Config, req, as_json: bool) -> int:
    """Exit 0 when every gate passes, 1 when one fails; nothing is recorded."""
    from engine.promote import PromotionError, plan
    from engine.runtime import open_store

    store = open_store(cfg)
    try:
        p = plan(cfg, store, req)
    except PromotionError as e:
        raise UsageError(str(e)) from None
    finally:
        store.close()
    if as_json:
        print(json.dumps({"kind": p.kind, "subject": p.subject, "trader": p.trader,
                          "passed": p.passed, "gates": [g.to_json() for g in p.gates]}, indent=2))
    else:
        for g in p.gates:
            print("  " + g.describe())
        print(f"{p.kind} for {p.subject}: {'all gates pass' if p.passed else 'REFUSED'}")
    return 0 if p.passed else 1


def _wait(cfg: Config, command_id: int, wait_s: float) -> None:
    """Make sure a supervisor runs the trade command; report its outcome (not fatal if slow)."""
    from engine.runtime import open_store
    from store.commands import wait_outcome

    try:
        from engine.supervisor.client import ensure_supervisor

        ensure_supervisor(cfg)
    except Exception as e:  # no supervisor module or it will not start: the command waits
        print(f"command #{command_id} queued; the supervisor is not running ({e})")
        return
    store = open_store(cfg)
    try:
        row = wait_outcome(store, command_id, wait_s)
    finally:
        store.close()
    if row is None or row.state in ("pending", "running"):
        print(f"command #{command_id} still {row.state if row else 'unknown'}; "
              "see `cappuccino status`")
    elif row.state == "failed":
        raise JobError(f"the supervisor could not start the trader: {row.result}")
    else:
        print(f"supervisor: {row.result}")
