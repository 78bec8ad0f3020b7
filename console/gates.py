"""Gate values shown before a promotion (the supervisor enforces the same gates again).

The preview comes from engine.promote.plan, the code the supervisor runs on the command, so
the console shows exactly what will be enforced. If that module is missing (a partial
install), the same gates are computed here from the store with the thresholds of [gates]
(for a capital change, only its first gate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from engine.config import Config
from store.db import Store

BARS_PER_YEAR = {"1m": 525_600, "5m": 105_120, "15m": 35_040, "30m": 17_520, "1h": 8_760,
                 "2h": 4_380, "6h": 1_460, "1d": 365}


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


def preview(store: Store, cfg: Config, args: dict[str, Any], now: float) -> GateReport | None:
    """engine.promote's plan for a promote command's args; None if that code is missing."""
    try:
        from engine.promote import PromotionError, Request, plan
    except ImportError:
        return None
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


def _latest_attempt(store: Store, study: str, trial: int) -> Any:
    return store.one("SELECT state, objective FROM attempts WHERE study = ? AND trial = ? "
                     "ORDER BY attempt DESC LIMIT 1", (study, trial))


def paper_gates(store: Store, cfg: Config, study: str, trial: int | None = None,
                ensemble_k: int | None = None, now: float = 0.0) -> GateReport:
    args: dict[str, Any] = {"to": "paper", "study": study}
    if ensemble_k:
        args["model"] = f"ensemble:{ensemble_k}"
    else:
        args["trial"] = trial
    return preview(store, cfg, args, now) or local_paper_gates(store, cfg, study, trial,
                                                               ensemble_k)


def live_gates(store: Store, cfg: Config, trader: str, now: float) -> GateReport:
    return (preview(store, cfg, {"to": "live", "trader": trader}, now)
            or local_live_gates(store, cfg, trader, now))


def capital_gates(store: Store, cfg: Config, trader: str, capital: float,
                  now: float) -> GateReport:
    """A trader's capital change: the capital steps and the weeks of profit behind them."""
    return (preview(store, cfg, {"to": "capital", "trader": trader, "capital": capital}, now)
            or local_capital_gates(store, trader))


def local_capital_gates(store: Store, trader: str) -> GateReport:
    """Without engine.promote only the first gate is known here: capital moves on live
    traders; the supervisor checks the capital steps when it runs the command."""
    t = store.one("SELECT mode FROM traders WHERE name = ?", (trader,))
    if t is None:
        return GateReport(trader, (Gate("trader exists", "missing", trader, False),))
    return GateReport(trader, (Gate("live trader", t["mode"], "live", t["mode"] == "live"),))


def local_paper_gates(store: Store, cfg: Config, study: str, trial: int | None = None,
                      ensemble_k: int | None = None) -> GateReport:
    """trial -> paper: the trial completed and its CPCV objective is above the threshold.
    For an ensemble of the top k: k completed trials, each above the threshold."""
    th = cfg.gates.paper_min_objective
    if ensemble_k:
        rows = store.query(
            "SELECT trial, objective FROM (SELECT trial, state, objective, max(attempt) "
            "FROM attempts WHERE study = ? GROUP BY trial) WHERE state = 'COMPLETE' "
            "AND objective IS NOT NULL ORDER BY objective DESC LIMIT ?", (study, ensemble_k))
        worst = min((r["objective"] for r in rows), default=None)
        return GateReport(f"{study} ensemble:{ensemble_k}", (
            Gate("completed trials", len(rows), ensemble_k, len(rows) >= ensemble_k),
            Gate("worst objective", None if worst is None else round(worst, 4), f"> {th:g}",
                 worst is not None and worst > th)))
    row = None if trial is None else _latest_attempt(store, study, trial)
    state = row["state"] if row else "missing"
    obj = row["objective"] if row else None
    return GateReport(f"{study} trial {trial}", (
        Gate("trial completed", state, "COMPLETE", state == "COMPLETE"),
        Gate("CPCV objective", None if obj is None else round(obj, 4), f"> {th:g}",
             obj is not None and obj > th)))


def _sharpe(values: list[float], timeframe: str) -> float | None:
    rets = [b / a - 1.0 for a, b in zip(values, values[1:], strict=False) if a]
    if len(rets) < 2:
        return None
    mean = sum(rets) / len(rets)
    var = sum((r - mean) ** 2 for r in rets) / (len(rets) - 1)
    if var <= 0:
        return None
    return mean / math.sqrt(var) * math.sqrt(BARS_PER_YEAR.get(timeframe, 105_120))


def local_live_gates(store: Store, cfg: Config, trader: str, now: float) -> GateReport:
    """paper -> live: hours on paper, paper Sharpe, no critical alert, trades per day."""
    g = cfg.gates
    t = store.one("SELECT mode, started_at, timeframe FROM traders WHERE name = ?", (trader,))
    if t is None:
        return GateReport(trader, (Gate("trader exists", "missing", trader, False),))
    since = now - g.live_min_hours * 3600.0
    hours = (now - float(t["started_at"])) / 3600.0
    alert = store.one("SELECT live_sharpe FROM alerts WHERE trader = ? AND live_sharpe IS NOT "
                      "NULL ORDER BY at DESC LIMIT 1", (trader,))
    sharpe = alert["live_sharpe"] if alert else None
    if sharpe is None:
        rows = store.query("SELECT equity_f FROM equity WHERE trader = ? AND at >= ? "
                           "ORDER BY at LIMIT 20000", (trader, since))
        sharpe = _sharpe([r["equity_f"] for r in rows], t["timeframe"])
    crit = store.one("SELECT count(*) AS n FROM alerts WHERE trader = ? AND at >= ? AND level "
                     "IN ('CRITICAL', 'EMERGENCY')", (trader, since))["n"]
    fills = store.one("SELECT count(DISTINCT client_order_id) AS n FROM fills WHERE trader = ? "
                      "AND at >= ?", (trader, since))["n"]
    days = max(min(hours, g.live_min_hours) / 24.0, 1e-9)
    per_day = fills / days
    return GateReport(trader, (
        Gate("on paper", t["mode"], "paper", t["mode"] == "paper"),
        Gate("hours on paper", round(hours, 1), f">= {g.live_min_hours:g}",
             hours >= g.live_min_hours),
        Gate("paper Sharpe", None if sharpe is None else round(sharpe, 3),
             f"> {g.live_min_sharpe:g}", sharpe is not None and sharpe > g.live_min_sharpe),
        Gate("critical alerts", int(crit), "0", int(crit) == 0),
        Gate("trades per day", round(per_day, 2),
             f"{g.live_min_trades_per_day:g}-{g.live_max_trades_per_day:g}",
             g.live_min_trades_per_day <= per_day <= g.live_max_trades_per_day)))
