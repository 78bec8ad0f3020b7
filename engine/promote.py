"""Promotions: trial -> paper, paper -> live, capital steps. Gates decide; everything is recorded.

`plan(cfg, store, request)` previews a request: the gates with their current values, nothing
written (the console can show exactly what will be enforced). `promote(cfg, store, request,
now)` reads the facts, evaluates engine.gates, records the
promotion or refusal (with every gate value) in the promotions table, emits a "promotion" or
"capital" event, and on success inserts a "trade" command for the supervisor (paper: broker
[gates] paper_broker; live: coinbase with live=True) in the same store write as the
promotion, which records the command's arguments (what check_spawn later holds a trader row
to) and is refused, unrecorded, while that trader runs or is being started: of two
promotions of one trader at once, one is recorded. It never waits on the supervisor, so it
runs the same from the CLI and inside the supervisor's handler thread (execute_command /
change_capital). A refusal raises PromotionRefused naming the failed gates; --force with a
reason overrides it and is recorded as forced.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np

from engine.config import Config
from engine.gates import (
    CapitalFacts,
    EvidenceFacts,
    GateResult,
    PaperFacts,
    TrialFacts,
    capital_gates,
    failed,
    live_gates,
    paper_gates,
    starting_capital_gate,
)
from engine.metrics import series_sharpe, trades_per_day
from engine.notify.events import emit
from store import promotions as prom
from store import thinning
from store.alerts import count_alerts
from store.commands import CommandRow
from store.db import Store
from store.db import now as store_now
from store.processes import get_process, update_process
from store.promotions import (
    Blocker,
    TraderBusy,
    insert_promotion,
    insert_promotion_and_start,
    last_capital_change,
    start_blocker,
)
from store.trading import TraderRow, get_trader

WEEK_S = 7 * 86_400.0
ENSEMBLE = re.compile(r"^ensemble:(\d+)$")


class PromotionError(Exception):
    """Bad request (unknown trader, --force without --reason...): nothing was recorded."""


class PromotionRefused(Exception):
    """The gates refused; the refusal was recorded. The message lists the failed gates."""

    def __init__(self, message: str, gates: list[GateResult]) -> None:
        super().__init__(message)
        self.gates = gates


@dataclass(frozen=True)
class Request:
    to: str                          # paper | live | capital
    study: str | None = None
    trial: int | None = None
    model: str | None = None         # "ensemble:K" for the top-k ensemble of the study
    trader: str | None = None        # live/capital: the existing trader
    name: str | None = None          # the new trader's name (default derived)
    capital: float | None = None
    force: bool = False
    reason: str | None = None
    source: str = "cli"


@dataclass(frozen=True)
class Outcome:
    promotion_id: int
    kind: str
    subject: str
    trader: str | None
    gates: list[GateResult] = field(default_factory=list)
    passed: bool = True
    forced: bool = False
    command_id: int | None = None
    message: str = ""


# -- facts (store reads) ---------------------------------------------------------------------
def trial_facts(store: Store, study: str, trial: int) -> TrialFacts:
    row = prom.trial_attempt(store, study, trial)
    model = prom.trial_model(store, study, trial)
    if row is None and model is None:
        return TrialFacts(study, trial, "missing", None, None)
    state = row.state if row else "COMPLETE"  # a registered model is a completed trial
    objective = row.objective if row and row.objective is not None else (
        model.objective if model else None)
    path = (model.path if model else None) or (row.model_path if row else None)
    return TrialFacts(study, trial, state, objective, path)


def ensemble_facts(store: Store, study: str, k: int) -> list[TrialFacts]:
    return [trial_facts(store, study, t) for t in prom.top_model_trials(store, study, k)]


def trial_evidence_facts(cfg: Config, store: Store, study: str,
                         trials: list[int]) -> list[EvidenceFacts | None]:
    """Each trial's deflated evidence (engine.study.evidence), None where it has none."""
    from engine.study.evidence import study_evidence

    out: list[EvidenceFacts | None] = []
    for t in trials:
        ev = study_evidence(cfg, store, study, t)
        out.append(ev.facts())  # N: every trial on the same data (engine.study.pool)
    return out


def _trader(store: Store, name: str) -> TraderRow:
    row = get_trader(store, name)
    if row is None:
        raise PromotionError(f"no trader named {name!r}")
    return row


def paper_facts(store: Store, name: str) -> PaperFacts:
    t = _trader(store, name)
    rows = prom.equity_points(store, name)
    if len(rows) < 2:
        return PaperFacts(name, t.mode, 0.0, None, 0, 0, 0.0)
    arr = np.asarray(rows, dtype=float)
    first, last = float(arr[0, 0]), float(arr[-1, 0])
    hours = (last - first) / 3600.0
    # Sharpe over the full-resolution equity only: retention thins older rows to hourly
    # points, and a median-spaced Sharpe of mixed spacings would be neither
    full = thinning.full_since(store, name)
    fine = arr if full is None else arr[arr[:, 0] >= full]
    sharpe, n = series_sharpe(fine[:, 0], fine[:, 1])
    trades = prom.orders_filled_since(store, name, first)
    per_day = trades_per_day(trades, last - first, 1e-9 * 86_400.0)
    return PaperFacts(name, t.mode, hours, sharpe if n >= 2 else None, n,
                      count_alerts(store, name, first), per_day)


def capital_facts(store: Store, name: str, now: float) -> CapitalFacts:
    t = _trader(store, name)
    current = float(Decimal(str(t.capital)))
    change = last_capital_change(store, name)
    start = change.at if change else (prom.first_equity_at(store, name) or float(t.started_at))
    weeks = max(int(math.floor((now - start) / WEEK_S)), 0)
    profitable = 0
    for i in range(weeks):
        week = prom.equity_bounds(store, name, start + i * WEEK_S, start + (i + 1) * WEEK_S)
        if week is not None and week[1] > week[0]:
            profitable += 1
    return CapitalFacts(name, t.mode, current, profitable, weeks)


# -- promotion ----------------------------------------------------------------------------------
def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:60] or "trader"


def _money(x: float) -> str:
    return str(Decimal(str(x)).quantize(Decimal("0.01")))


def _check_force(req: Request) -> None:
    if req.force and not (req.reason or "").strip():
        raise PromotionError("--force needs --reason TEXT (the override is recorded)")


def _record(cfg: Config, store: Store, kind: str, subject: str, gates: list[GateResult],
            req: Request, trader: str | None, capital: float | None, context: dict[str, object],
            at: float, start: dict[str, object] | None = None) -> tuple[int, bool, bool, int | None]:
    """Record the promotion (or refusal); an effective one with `start` (its trade command's
    args) is recorded with that command in one write, refused unrecorded while the trader
    runs or is being started. Returns (promotion id, passed, forced, command id)."""
    passed = not failed(gates)
    forced = req.force and not passed
    go = passed or forced
    money = None if capital is None else _money(capital)
    json_gates = [g.to_json() for g in gates]
    cid = None
    if go and start is not None and trader is not None:
        try:
            pid, cid = insert_promotion_and_start(
                store, kind, subject, json_gates, passed, trader=trader, forced=forced,
                reason=req.reason, capital=money, at=at, trade_args=start, source=req.source)
        except TraderBusy as e:
            raise PromotionError(busy_message(trader, e.blocker)) from None
    else:
        pid = insert_promotion(store, kind, subject, json_gates, passed, trader=trader,
                               forced=forced, reason=req.reason, capital=money, at=at)
    verb = {"paper": "to paper", "live": "to LIVE", "capital": "capital"}[kind]
    cap = f" with capital {_money(capital)}" if capital is not None else ""
    if go:
        title = f"{'Forced ' if forced else ''}promotion {verb}: {trader or subject}{cap}"
    else:
        title = f"Promotion {verb} refused: {trader or subject}"
    lines = [g.describe() for g in gates]
    if forced:
        lines.append(f"FORCED by the operator: {req.reason}")
    event = "capital" if kind == "capital" else "promotion"
    level = "success" if passed else ("warning" if forced else "failure")
    # context holds emit's own keywords (study, trial, model), built by plan()
    emit(store, cfg, event, title, "\n".join(lines), level, trader=trader,
         **context)  # type: ignore[arg-type]
    if not go:
        names = ", ".join(f"{g.name} {g.shown()} (needs {g.threshold})" for g in failed(gates))
        raise PromotionRefused(f"{verb} refused for {subject}: {names} "
                               f"(promotion #{pid}; override with --force --reason TEXT)", gates)
    return pid, passed, forced, cid


@dataclass(frozen=True)
class Plan:
    """What a promotion would do: its gates, the trader, and the trade command's args."""

    kind: str
    subject: str
    trader: str
    capital: float
    gates: list[GateResult]
    context: dict[str, object]
    trade_args: dict[str, object] | None  # None: a capital change (no new process)
    current: float | None = None

    @property
    def passed(self) -> bool:
        return not failed(self.gates)


def plan_paper(cfg: Config, store: Store, req: Request) -> Plan:
    study = req.study or cfg.study.name
    m = ENSEMBLE.match(req.model or "")
    if m:
        k = int(m.group(1))
        if k < 1:
            raise PromotionError("ensemble:K needs K >= 1")
        members = ensemble_facts(store, study, k)
        gates = paper_gates(cfg.gates, members, want=k,
                            evidence=trial_evidence_facts(cfg, store, study,
                                                          [t.trial for t in members]))
        subject, model, trial = f"{study}/ensemble:{k}", f"ensemble:{k}", None
        default_name = f"{study}-ens{k}-paper"
        backtest = None
        model_dir = members[0].model_path if members else None
    else:
        if req.trial is None:
            raise PromotionError("promote to paper needs --trial N (or --model ensemble:K)")
        facts = [trial_facts(store, study, req.trial)]
        gates = paper_gates(cfg.gates, facts,
                            evidence=trial_evidence_facts(cfg, store, study, [req.trial]))
        subject, trial = f"{study}/trial {req.trial}", req.trial
        model = req.model or facts[0].model_path or ""
        default_name = f"{study}-t{req.trial}-paper"
        backtest = prom.model_sharpe(store, model)
        model_dir = model
    if req.force and not model:
        raise PromotionError(f"{subject}: no saved model to trade, even with --force")
    name = _safe_name(req.name or default_name)
    capital = req.capital if req.capital is not None else cfg.trader.capital
    tickers, timeframe = model_market(cfg, model_dir)
    args = {"name": name, "model": model, "broker": cfg.gates.paper_broker,
            "tickers": tickers, "timeframe": timeframe,
            "capital": _money(capital), "live": False, "study": study, "trial": trial,
            "backtest_sharpe": backtest}
    return Plan("paper", subject, name, capital, gates,
                {"model": model, "trial": trial, "study": study}, args)


def model_market(cfg: Config, model_dir: str | None) -> tuple[list[str], str]:
    """The tickers and timeframe a model was trained on (its spec.json): a trader can trade
    nothing else ([data] tickers, which train, default to more than [trader] tickers). Without
    a readable spec, [trader]'s, and the trader names what does not match. Read as JSON here:
    engine.model.artifact reaches torch, which the console (a caller) never imports."""
    try:
        spec = json.loads((Path(model_dir) / "spec.json").read_text()) if model_dir else {}
        tickers, timeframe = spec["tickers"], spec["timeframe"]
        if (isinstance(tickers, list) and tickers and isinstance(timeframe, str)
                and all(isinstance(t, str) for t in tickers)):
            return list(tickers), timeframe
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return list(cfg.trader.tickers), cfg.trader.timeframe


def plan_live(cfg: Config, store: Store, req: Request) -> Plan:
    if not req.trader:
        raise PromotionError("promote to live needs --trader NAME (a paper trader)")
    t = _trader(store, req.trader)
    capital = req.capital if req.capital is not None else sorted(cfg.gates.capital_steps)[0]
    if capital <= 0:
        raise PromotionError(f"capital must be positive, got {capital:g}")
    gates = (live_gates(cfg.gates, paper_facts(store, req.trader))
             + [starting_capital_gate(cfg.gates, capital)])
    name = _safe_name(req.name or f"{re.sub(r'-paper$', '', req.trader)}-live")
    tickers = t.tickers
    args = {"name": name, "model": t.model, "broker": "coinbase",
            "tickers": json.loads(str(tickers)) if tickers else list(cfg.trader.tickers),
            "timeframe": t.timeframe, "capital": _money(capital), "live": True,
            "study": t.study, "trial": t.trial, "backtest_sharpe": t.backtest_sharpe}
    return Plan("live", req.trader, name, capital, gates,
                {"model": t.model, "trial": t.trial, "study": t.study}, args)


def plan_capital(cfg: Config, store: Store, req: Request, now: float) -> Plan:
    if not req.trader or req.capital is None:
        raise PromotionError("a capital change needs --trader NAME and --capital X")
    if req.capital <= 0:
        raise PromotionError(f"capital must be positive, got {req.capital:g}")
    t = _trader(store, req.trader)
    facts = capital_facts(store, req.trader, now)
    return Plan("capital", req.trader, req.trader, req.capital,
                capital_gates(cfg.gates, facts, req.capital),
                {"model": t.model, "trial": t.trial, "study": t.study}, None,
                facts.current)


def plan(cfg: Config, store: Store, req: Request, now: float | None = None) -> Plan:
    """Evaluate the gates of a request without recording or starting anything (a preview)."""
    at = store_now() if now is None else now
    if req.to == "paper":
        return plan_paper(cfg, store, req)
    if req.to == "live":
        return plan_live(cfg, store, req)
    if req.to == "capital":
        return plan_capital(cfg, store, req, at)
    raise PromotionError(f"unknown promotion target {req.to!r} (paper, live or capital)")


def busy_message(trader: str, b: Blocker) -> str:
    if b.command_id is not None:
        return (f"trader {trader} is being started (trade command #{b.command_id}, not "
                f"finished): wait for it, then stop it first or name the new trader "
                f"differently (--name NEW); nothing was recorded")
    pid = f", pid {b.pid}" if b.pid else ""
    return (f"trader {trader} is running ({b.state}{pid}): stop it first "
            f"(`cappuccino stop trader-{trader}`) or name the new trader "
            f"differently (--name NEW); nothing was recorded")


def refuse_running(store: Store, trader: str) -> None:
    """A promotion that would start `trader` while a trader of that name runs or is being
    started: recorded, its trade command then failed "already running" - a promotion that
    never took effect, which the gates and the operator would count. Refused before anything
    is recorded. A preview: `_record` checks it again in the write that records."""
    b = start_blocker(store, f"trader-{trader}")
    if b is not None:
        raise PromotionError(busy_message(trader, b))


def promote(cfg: Config, store: Store, req: Request, now: float | None = None) -> Outcome:
    """Gates, record, event; on success the trade command (or the capital update)."""
    at = store_now() if now is None else now
    _check_force(req)
    p = plan(cfg, store, req, at)
    if p.trade_args is not None:
        refuse_running(store, p.trader)
    pid, passed, forced, cid = _record(cfg, store, p.kind, p.subject, p.gates, req, p.trader,
                                       p.capital, p.context, at, p.trade_args)
    if p.trade_args is None:
        prom.set_trader_capital(store, p.trader, _money(p.capital), at)
        _row_capital(store, p.trader, _money(p.capital))
        return Outcome(pid, p.kind, p.subject, p.trader, p.gates, passed, forced, None,
                       f"capital of {p.trader}: {_money(p.current or 0)} -> {_money(p.capital)}")
    where = "paper trader" if p.kind == "paper" else "LIVE trader"
    cap = f" with capital {_money(p.capital)}" if p.kind == "live" else ""
    return Outcome(pid, p.kind, p.subject, p.trader, p.gates, passed, forced, cid,
                   f"promoted {p.subject} to {where} {p.trader}{cap} (command #{cid})")


def _row_capital(store: Store, trader: str, capital: str) -> None:
    """The trader's process row starts it with its new capital. The supervisor holds a live
    row to the last capital step (check_spawn): with the old `--capital` its next start (a
    restart after a crash, `restart`) was refused, and would have put the old capital back."""
    row = get_process(store, f"trader-{trader}")
    argv = row.args if row is not None else []
    if "--live" in argv and "--capital" in argv[:-1]:  # a paper trader's never changes
        argv[argv.index("--capital") + 1] = capital
        update_process(store, f"trader-{trader}", argv=json.dumps(argv))


# -- supervisor handlers ------------------------------------------------------------------------
def _number(value: object, what: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        raise PromotionError(f"{what}: expected a number, got {value!r}") from None


def request_from_command(command: CommandRow, to: str | None = None) -> Request:
    a = command.arguments
    kind = str(to or a.get("to") or "")
    trial = a.get("trial")
    try:
        trial_no = None if trial in (None, "") else int(trial)
    except (TypeError, ValueError):
        raise PromotionError(f"trial: expected an integer, got {trial!r}") from None
    # The console sends the study (paper) or the trader (live, capital) as the target.
    return Request(
        to=kind, study=a.get("study") or (command.target if kind == "paper" else None),
        trial=trial_no, model=a.get("model") or None,
        trader=a.get("trader") or (command.target if kind != "paper" else None),
        name=a.get("name") or None, capital=_number(a.get("capital"), "capital"),
        force=bool(a.get("force")), reason=a.get("reason") or None, source=command.source)


def execute_command(cfg: Config, store: Store, command: CommandRow) -> str:
    """Supervisor handler for action "promote" (args: to, trial|model, study, trader, ...)."""
    return promote(cfg, store, request_from_command(command)).message


def change_capital(cfg: Config, store: Store, command: CommandRow) -> str:
    """Supervisor handler for action "capital" (args: trader, capital, force, reason)."""
    return promote(cfg, store, request_from_command(command, to="capital")).message
