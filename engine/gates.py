"""Promotion gates: pure functions from facts and [gates] thresholds to GateResult lists.

trial -> paper: the trial completed with a model, its objective > paper_min_objective, and
its deflated evidence (engine.study.evidence) holds: deflated Sharpe ratio >= paper_min_dsr
(Bailey & López de Prado 2014, N = every trial attempted on the same data, in any study:
engine.study.pool), the study's PBO <=
paper_max_pbo (CSCV, Bailey et al. 2015), the lower end of the held-out active Sharpe's 95 %
block-bootstrap interval > paper_min_holdout_lo, and the objective above each trivial
baseline's (cash, HODL, equal weight, best static tilt; the same objective) by more than
paper_baseline_margin. No evidence is a refusal, never a pass. (For an ensemble of the top
k: k completed trials, the worst objective above the line, every member's evidence.)
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

    def shown(self) -> str:
        """The value as every report shows it (4 significant digits for a float)."""
        return f"{self.value:.4g}" if isinstance(self.value, float) else str(self.value)

    def describe(self) -> str:
        return f"{self.name}: {self.shown()} (needs {self.threshold}) {'ok' if self.passed else 'FAILED'}"


@dataclass(frozen=True)
class TrialFacts:
    study: str
    trial: int
    state: str                 # COMPLETE | FAILED | ... | missing
    objective: float | None
    model_path: str | None


@dataclass(frozen=True)
class EvidenceFacts:
    """A trial's deflated evidence (engine.study.evidence.TrialEvidence, flattened)."""

    trial: int
    dsr: float | None
    pbo: float | None
    holdout_lo: float | None
    objective: float | None
    baselines: dict[str, float | None]
    dsr_trials: int | None = None  # N the DSR deflates by: every trial on the same data
    own_trials: int | None = None  # ... of which the trial's own study holds
    dsr_pool: str = ""             # where N comes from, in words (engine.study.pool)
    pool_note: str = ""            # what could not be counted: N may be short, so refuse


@dataclass(frozen=True)
class PaperFacts:
    trader: str
    mode: str
    hours: float               # span of the trader's equity record on paper
    sharpe: float | None       # annualised, over the full-resolution part of the period
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


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(float(x), nd)


def evidence_gates(g: GatesSection, e: EvidenceFacts | None,
                   label: str = "") -> list[GateResult]:
    """The deflated-evidence gates of one trial; missing evidence fails each of them."""
    p = f"trial {e.trial} " if label and e is not None else label
    if e is None:
        return [GateResult(f"{p}study evidence", "missing", "evidence.npz of the trial", False)]
    out = [GateResult(f"{p}deflated Sharpe ratio", _r(e.dsr), f">= {g.paper_min_dsr:g}",
                      e.dsr is not None and e.dsr >= g.paper_min_dsr)]
    if e.dsr_trials is not None:  # N counts every study on the data: no study shopping
        out.append(GateResult(f"{p}deflated Sharpe N (trials on the same data)", e.dsr_trials,
                              f">= {e.own_trials} ({e.dsr_pool})",
                              not e.pool_note and e.dsr_trials >= (e.own_trials or 0)))
    out += [GateResult(f"{p}PBO", _r(e.pbo), f"<= {g.paper_max_pbo:g}",
                       e.pbo is not None and e.pbo <= g.paper_max_pbo),
            GateResult(f"{p}held-out active Sharpe 95% low", _r(e.holdout_lo, 3),
                       f"> {g.paper_min_holdout_lo:g}",
                       e.holdout_lo is not None and e.holdout_lo > g.paper_min_holdout_lo)]
    for name, b in e.baselines.items():
        margin = None if b is None or e.objective is None else e.objective - b
        out.append(GateResult(f"{p}objective over {name.replace('_', ' ')}", _r(margin, 3),
                              f"> {g.paper_baseline_margin:g}",
                              margin is not None and margin > g.paper_baseline_margin))
    return out


def paper_gates(g: GatesSection, trials: Sequence[TrialFacts], want: int = 1,
                evidence: Sequence[EvidenceFacts | None] | None = None) -> list[GateResult]:
    """trial -> paper. `evidence` (one per trial, same order) adds the deflated-evidence
    gates; None leaves them out (only for callers that show the basic facts)."""
    th = f"> {g.paper_min_objective:g}"
    if want <= 1:
        t = trials[0] if trials else None
        state = t.state if t else "missing"
        obj = t.objective if t else None
        basic = [GateResult("trial completed", state, "COMPLETE", state == "COMPLETE"),
                 GateResult("CPCV objective", obj, th,
                            obj is not None and obj > g.paper_min_objective),
                 GateResult("model saved", "yes" if t and t.model_path else "missing", "yes",
                            bool(t and t.model_path))]
        if evidence is None:
            return basic
        return basic + evidence_gates(g, evidence[0] if evidence else None)
    done = [t for t in trials if t.state == "COMPLETE" and t.model_path]
    objs = [t.objective for t in done if t.objective is not None]
    worst = min(objs) if len(objs) == len(done) and objs else None
    basic = [GateResult("completed trials with a model", len(done), f">= {want}",
                        len(done) >= want),
             GateResult("worst CPCV objective", worst, th,
                        worst is not None and worst > g.paper_min_objective)]
    if evidence is None:
        return basic
    return basic + [x for e in evidence for x in evidence_gates(g, e, label="member")]


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
