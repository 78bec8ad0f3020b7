"""Gate values shown before a promotion: engine.promote's plan, the very code the supervisor
enforces on the command, so the console's preview cannot disagree with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.config import Config
from engine.promote import PromotionError, Request, plan
from store.db import Store


@dataclass(frozen=True)
class Gate:
    name: str
    value: Any
    threshold: Any
    passed: bool


@dataclass(frozen=True)
class GateReport:
    subject: str
    gates: tuple[Gate, ...]

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def refused(self) -> tuple[Gate, ...]:
        return tuple(g for g in self.gates if not g.passed)


def preview(store: Store, cfg: Config, args: dict[str, Any], now: float) -> GateReport:
    """engine.promote's plan for a promote command's args (a bad request is one refusal)."""
    capital = args.get("capital")
    req = Request(to=str(args.get("to")), study=args.get("study"), trial=args.get("trial"),
                  model=args.get("model"), trader=args.get("trader"), name=None,
                  capital=None if capital is None else float(capital), force=False,
                  reason=None, source="console")
    subject = str(args.get("trader") or args.get("study") or "")
    try:
        p = plan(cfg, store, req, now)
    except PromotionError as e:
        return GateReport(subject, (Gate("request", str(e), "valid", False),))
    return GateReport(p.subject, tuple(Gate(g.name, g.value, g.threshold, bool(g.passed))
                                       for g in p.gates))


def paper_gates(store: Store, cfg: Config, study: str, trial: int | None = None,
                ensemble_k: int | None = None, now: float = 0.0) -> GateReport:
    args: dict[str, Any] = {"to": "paper", "study": study}
    if ensemble_k:
        args["model"] = f"ensemble:{ensemble_k}"
    else:
        args["trial"] = trial
    return preview(store, cfg, args, now)


def live_gates(store: Store, cfg: Config, trader: str, now: float) -> GateReport:
    return preview(store, cfg, {"to": "live", "trader": trader}, now)


def capital_gates(store: Store, cfg: Config, trader: str, capital: float,
                  now: float) -> GateReport:
    """A trader's capital change: the capital steps and the weeks of profit behind them."""
    return preview(store, cfg, {"to": "capital", "trader": trader, "capital": capital}, now)

