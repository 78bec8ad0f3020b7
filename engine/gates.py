"""Promotion gates: pure functions from facts and [gates] thresholds to GateResult lists.

trial -> paper: the trial completed and its CPCV objective > paper_min_objective (for an
ensemble of the top k: k completed trials, the worst objective above the line).
paper -> live: >= live_min_hours on paper, paper Sharpe > live_min_sharpe, no CRITICAL or
EMERGENCY alert during the paper period, trades a day within [min, max].
capital: live traders start at capital_steps[0]; the next step needs first_step_weeks
profitable live weeks at the current step (the first raise) or next_step_weeks (later raises).
Lowering capital is always allowed. The facts come from engine.promote (store reads).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from engine.config.schema import GatesSection

Value = float | int | str | None


@dataclass(frozen=True)
class GateResult:
    name: str
    value: Value
    threshold: Value
    passed: bool

    def to_json(self) -> dict[str, Value | bool]:
        return asdict(self)

    def describe(self) -> str:
        v = f"{self.value:.4g}" if isinstance(self.value, float) else str(self.value)
        return f"{self.name}: {v} (needs {self.threshold}) {'ok' if self.passed else 'FAILED'}"


@dataclass(frozen=True)
class TrialFacts:
    study: str
    trial: int
    state: str                 # COMPLETE | FAILED | ... | missing
    objective: float | None
    model_path: str | None


@dataclass(frozen=True)
class PaperFacts:
    trader: str
    mode: str
    hours: float               # span of the trader's equity record on paper
    sharpe: float | None       # annualised, over the whole paper period
    returns: int
    severe_alerts: int         # CRITICAL or EMERGENCY alerts during the paper period
    trades_per_day: float


@dataclass(frozen=True)
class CapitalFacts:
    trader: str
    mode: str
    current: float
    profitable_weeks: int      # complete profitable live weeks since the current step began
    weeks: int                 # complete live weeks since the current step began


def failed(gates: Sequence[GateResult]) -> list[GateResult]:
    return [g for g in gates if not g.passed]


def paper_gates(g: GatesSection, trials: Sequence[TrialFacts], want: int = 1) -> list[GateResult]:
    th = f"> {g.paper_min_objective:g}"
    if want <= 1:
        t = trials[0] if trials else None
        state = t.state if t else "missing"
        obj = t.objective if t else None
        return [GateResult("trial completed", state, "COMPLETE", state == "COMPLETE"),
                GateResult("CPCV objective", obj, th,
                           obj is not None and obj > g.paper_min_objective),
                GateResult("model saved", "yes" if t and t.model_path else "missing", "yes",
                           bool(t and t.model_path))]
    done = [t for t in trials if t.state == "COMPLETE" and t.model_path]
    objs = [t.objective for t in done if t.objective is not None]
    worst = min(objs) if len(objs) == len(done) and objs else None
    return [GateResult("completed trials with a model", len(done), f">= {want}",
                       len(done) >= want),
            GateResult("worst CPCV objective", worst, th,
                       worst is not None and worst > g.paper_min_objective)]


def live_gates(g: GatesSection, f: PaperFacts) -> list[GateResult]:
    lo, hi = g.live_min_trades_per_day, g.live_max_trades_per_day
    return [
        GateResult("trader on paper", f.mode, "paper", f.mode == "paper"),
        GateResult("hours on paper", round(f.hours, 2), f">= {g.live_min_hours:g}",
                   f.hours >= g.live_min_hours),
        GateResult("paper Sharpe", None if f.sharpe is None else round(f.sharpe, 4),
                   f"> {g.live_min_sharpe:g}",
                   f.sharpe is not None and f.sharpe > g.live_min_sharpe),
        GateResult("critical alerts on paper", f.severe_alerts, "0", f.severe_alerts == 0),
        GateResult("trades per day", round(f.trades_per_day, 3), f"{lo:g}-{hi:g}",
                   lo <= f.trades_per_day <= hi),
    ]


def starting_capital_gate(g: GatesSection, capital: float) -> GateResult:
    first = sorted(g.capital_steps)[0]
    return GateResult("starting capital", capital, f"<= {first:g}", capital <= first + 1e-9)


def step_index(steps: Sequence[float], capital: float) -> int:
    """Index of the highest step <= capital; -1 below the first step."""
    idx = -1
    for i, s in enumerate(steps):
        if capital + 1e-9 >= s:
            idx = i
    return idx


def capital_gates(g: GatesSection, f: CapitalFacts, requested: float) -> list[GateResult]:
    steps = sorted(g.capital_steps)
    live = GateResult("live trader", f.mode, "live", f.mode == "live")
    if requested <= f.current + 1e-9:
        return [live, GateResult("capital not raised", requested, f"<= {f.current:g}", True)]
    nxt = step_index(steps, f.current) + 1
    if nxt >= len(steps):
        return [live, GateResult("next capital step", requested,
                                 f"<= {steps[-1]:g} (last step)", False)]
    if nxt == 0:  # below the first step: up to the first step needs no track record
        return [live, GateResult("next capital step", requested, f"<= {steps[0]:g}",
                                 requested <= steps[0] + 1e-9)]
    weeks = g.first_step_weeks if nxt == 1 else g.next_step_weeks
    return [live,
            GateResult("next capital step", requested, f"<= {steps[nxt]:g}",
                       requested <= steps[nxt] + 1e-9),
            GateResult("profitable live weeks at this step", f.profitable_weeks, f">= {weeks}",
                       f.profitable_weeks >= weeks)]
