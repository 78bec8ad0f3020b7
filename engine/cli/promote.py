"""`cappuccino promote`: trial -> paper, paper -> live, and capital steps, through the gates.

  cappuccino promote --to paper --trial N [--study S] [--name NAME] [--capital X]
  cappuccino promote --to paper --model ensemble:K [--study S]
  cappuccino promote --to live --trader NAME [--capital X]
  cappuccino promote --capital X --trader NAME
  ... [--force --reason TEXT]   override failed gates (recorded)
  ... --check                   show the gates with their current values; change nothing

Prints every gate with its value and threshold, then asks the supervisor, the one authority:
it re-evaluates the same gates (engine.promote) and records the promotion or the refusal. A
refusal exits 1 with the failed gates. `--to live` exits 2 at once while live trading is not
armed ([coinbase] live_armed), --force or not.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from engine.cli import Subparsers
from engine.cli.errors import JobError, UsageError
from engine.config import Config

if TYPE_CHECKING:
    from engine.promote import Request


def register(sub: Subparsers) -> None:
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


def _request(args: argparse.Namespace) -> Request:
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


def _require_store(cfg: Config, req: Request) -> None:
    """No store yet: the study, trial or trader named is unknown (exit 2); none is created."""
    from engine.cli.status import store_missing
    from engine.names import no_store

    if store_missing(cfg):
        if req.to == "paper":
            raise no_store("study", req.study or cfg.study.name, cfg.store.path)
        raise no_store("trader", req.trader, cfg.store.path)


ANSWER_S = 60.0  # how long the CLI waits for the supervisor's verdict on the promotion


def _command(req: Request) -> tuple[str, str | None, dict[str, object]]:
    """The request as the supervisor's typed command: (action, target, args)."""
    capital = None if req.capital is None else str(req.capital)
    fields: dict[str, object]
    if req.to == "capital":
        fields = {"trader": req.trader, "capital": capital, "force": req.force,
                  "reason": req.reason}
        action, target = "capital", req.trader
    else:
        fields = {"to": req.to, "study": req.study, "trial": req.trial, "model": req.model,
                  "trader": req.trader, "name": req.name, "capital": capital,
                  "force": req.force, "reason": req.reason}
        action, target = "promote", None
    # `is`, not `in (None, False)`: 0 == False, and trial 0 is every study's first trial
    return action, target, {k: v for k, v in fields.items() if v is not None and v is not False}


def run(args: argparse.Namespace, cfg: Config) -> int:
    """Preview the gates here, then ask the supervisor (the authority) and report its verdict."""
    from engine.promote import PromotionError, plan, refuse_running
    from engine.runtime import open_store
    from engine.supervisor.client import SupervisorError, send_command
    from engine.supervisor.commands import Refused, validate_request
    from store.promotions import last_promotion_id

    req = _request(args)
    if args.check:
        _require_store(cfg, req)
        return _check(cfg, req, args.json)
    if req.to == "live" and not cfg.coinbase.live_armed:
        raise UsageError(f"live trading is not armed: set [coinbase] live_armed = true in "
                         f"{cfg.source} first (--check previews the gates)")
    action, target, fields = _command(req)
    try:
        validate_request(cfg, action, target, fields)
    except Refused as e:
        raise UsageError(str(e)) from None
    _require_store(cfg, req)
    store = open_store(cfg)
    try:
        try:
            preview = plan(cfg, store, req)
            if preview.trade_args is not None:  # the supervisor refuses it too (the console)
                refuse_running(store, preview.trader)
        except PromotionError as e:
            raise UsageError(str(e)) from None
        before = last_promotion_id(store)
    finally:
        store.close()
    if not args.json:
        for g in preview.gates:
            print("  " + g.describe())
    try:
        row = send_command(cfg, action, target, fields, "cli", wait_s=ANSWER_S)
    except SupervisorError as e:
        raise JobError(str(e)) from None
    if row.state not in ("done", "failed"):
        raise JobError(f"command #{row.id} is still {row.state} after {ANSWER_S:g}s; "
                       "see `cappuccino status`")
    if row.state == "failed":
        why = str(row.result or "").removeprefix("refused: ")  # said once, in the line's head
        raise JobError(f"the supervisor refused: {why}")
    return _report(cfg, args, row.id, preview.trader, before, str(row.result or ""))


def _report(cfg: Config, args: argparse.Namespace, command_id: int, trader: str,
            before: int, message: str) -> int:
    from engine.runtime import open_store
    from store.commands import first_after
    from store.promotions import promotions_after

    store = open_store(cfg)
    try:
        promo = next((p for p in promotions_after(store, before) if p.trader == trader), None)
        trade = first_after(store, command_id, "trade", f"trader-{trader}")
    finally:
        store.close()
    forced = bool(promo and promo.forced)
    if args.json:
        print(json.dumps({"promotion": promo.id if promo else None,
                          "kind": promo.kind if promo else None, "trader": trader,
                          "passed": bool(promo and promo.passed), "forced": forced,
                          "command": trade.id if trade else None,
                          "gates": promo.gate_list if promo else []}, indent=2))
    else:
        print(message + (" [FORCED]" if forced else ""))
    if trade is not None and args.wait > 0:
        _wait(cfg, trade.id, args.wait)
    return 0


def _check(cfg: Config, req: Request, as_json: bool) -> int:
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
