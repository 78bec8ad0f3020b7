"""A study's evidence: how much of its best result survives deflation.

From every trial attempted (pruned ones with the splits they finished; failed ones count in
N) and their traces (engine.study.trace):

- PBO by CSCV (Bailey, Borwein, López de Prado & Zhu 2015, "The Probability of Backtest
  Overfitting") on the T × N matrix of per-bar out-of-sample active returns, T = every
  CV bar tested, N = the trials with a trace, S = [study] pbo_blocks (16) row blocks,
  Sharpe as the performance measure (engine.study.pbo.pbo_returns);
- the deflated Sharpe ratio (Bailey & López de Prado 2014) of the selected trial's per-bar
  active returns, with their skewness and kurtosis; N = every trial attempted on the same
  data, this study's and other studies' (engine.study.pool: no study shopping), V[SR_n]
  from the per-bar Sharpe of every one of them with a trace (engine.study.stats);
- the held-out segment's active Sharpe (the final fit, trained on every bar before it)
  with a 95 % circular block-bootstrap interval;
- the trivial baselines (engine.study.baselines) scored by the trial objective, mean − SE
  of the per-split active Sharpe;
- the seed spread (std of the per-seed mean active Sharpe) and the final fit's learning
  curve.

`compute()` is pure (synthetic tests feed it traces); `study_evidence()` reads the store
and the trial folders; `gate_facts()` hands engine.gates what a promotion checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.gates import EvidenceFacts, GateResult, evidence_gates, failed, paper_gates
from engine.gates import TrialFacts as GateTrial
from engine.metrics import sharpe
from engine.study.baselines import NAMES
from engine.study.pbo import pbo_returns
from engine.study.pool import TrialPool, pool_of, study_pool, trial_sharpes
from engine.study.stats import (
    bootstrap_sharpe_ci,
    deflated_sharpe,
    mean_minus_se,
    sharpe_standard_error,
)
from engine.study.trace import Trace, load_trace


@dataclass(frozen=True)
class TrialInput:
    trial: int
    state: str                # the latest attempt's state
    objective: float | None
    trace: Trace | None
    model_path: str | None = None


@dataclass(frozen=True)
class TrialEvidence:
    trial: int
    objective: float | None
    dsr: float | None
    sharpe_per_bar: float
    sr0: float
    bars: int
    skew: float
    kurtosis: float
    holdout_active_sharpe: float | None
    holdout_ci: tuple[float, float] | None
    baselines: dict[str, float | None]
    seed_scores: tuple[float, ...]
    seed_spread: float | None
    learning_curve: tuple[float, ...]

    def facts(self, pbo: float | None, pool: TrialPool | None = None) -> EvidenceFacts:
        return EvidenceFacts(self.trial, self.dsr, pbo,
                             None if self.holdout_ci is None else self.holdout_ci[0],
                             self.objective, dict(self.baselines),
                             None if pool is None else pool.n,
                             None if pool is None else pool.own,
                             "" if pool is None else pool.describe(),
                             "" if pool is None else pool.note)


@dataclass(frozen=True)
class TrialSummary:
    """One attempted trial as `study show` lists it: what its evidence file holds."""
    trial: int
    state: str
    objective: float | None
    evidence: bool            # an evidence file was found (possibly empty)
    splits: int               # CPCV splits with out-of-sample returns in it
    bars: int                 # distinct out-of-sample bars
    ended: str                # the file's mark: "PRUNED"/"FAILED" before finishing, else ""

    def to_json(self) -> dict[str, Any]:
        return {"trial": self.trial, "state": self.state, "objective": _f(self.objective),
                "evidence": self.evidence, "splits": self.splits, "bars": self.bars,
                "ended": self.ended or None}


def summarize(t: TrialInput) -> TrialSummary:
    tr = t.trace
    if tr is None:
        return TrialSummary(t.trial, t.state, t.objective, False, 0, 0, "")
    return TrialSummary(t.trial, t.state, t.objective, True,
                        sum(1 for st in tr.splits.values() if st.active),
                        int(tr.per_bar()[0].size), tr.status)


@dataclass(frozen=True)
class StudyEvidence:
    study: str
    trials_attempted: int
    trials_with_evidence: int
    pbo: float | None
    pbo_blocks: int
    pbo_bars: int
    best: TrialEvidence | None
    gates: tuple[GateResult, ...] = field(default_factory=tuple)
    trials: tuple[TrialSummary, ...] = field(default_factory=tuple)
    pool: TrialPool | None = None   # N of the deflated Sharpe ratio and where it comes from

    @property
    def dsr_trials(self) -> int:
        return self.trials_attempted if self.pool is None else self.pool.n

    def facts(self) -> EvidenceFacts | None:
        """The selected trial's gate facts (None without evidence)."""
        return None if self.best is None else self.best.facts(self.pbo, self.pool)

    @property
    def passed(self) -> bool:
        return bool(self.gates) and not failed(self.gates)

    def reasons(self) -> list[str]:
        return [g.describe() for g in failed(self.gates)]

    def to_json(self) -> dict[str, Any]:
        b = self.best
        best = None if b is None else {
            "trial": b.trial, "objective": _f(b.objective), "dsr": _f(b.dsr),
            "holdout_active_sharpe": _f(b.holdout_active_sharpe),
            "holdout_ci": None if b.holdout_ci is None else [_f(x) for x in b.holdout_ci],
            "baselines": {k: _f(v) for k, v in b.baselines.items()},
            "sharpe_per_bar": _f(b.sharpe_per_bar), "sr0_per_bar": _f(b.sr0),
            "bars": b.bars, "skew": _f(b.skew), "kurtosis": _f(b.kurtosis),
            "seed_scores": [_f(x) for x in b.seed_scores], "seed_spread": _f(b.seed_spread),
            "learning_curve": [_f(x) for x in b.learning_curve]}
        return {"study": self.study, "trials_attempted": self.trials_attempted,
                "trials_with_evidence": self.trials_with_evidence, "pbo": _f(self.pbo),
                "pbo_blocks": self.pbo_blocks, "pbo_bars": self.pbo_bars, "best": best,
                "dsr_trials": self.dsr_trials,
                "dsr_pool": None if self.pool is None else self.pool.to_json(),
                "gate": {"paper": {"passed": self.passed, "reasons": self.reasons(),
                                   "gates": [g.to_json() for g in self.gates]}},
                "trials": [t.to_json() for t in self.trials]}


def _f(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else round(float(x), 6)


# -- the figures ---------------------------------------------------------------------------
def returns_matrix(trials: list[TrialInput]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(bars, (T, N) matrix, trial numbers): every trial's per-bar OOS active returns on the
    union of the bars tested; NaN where a trial has no return (a pruned trial's later splits)."""
    series = [(t.trial, *t.trace.per_bar()) for t in trials
              if t.trace is not None and t.trace.per_bar()[0].size]
    if not series:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0)), []
    bars = np.unique(np.concatenate([b for _, b, _ in series]))
    m = np.full((bars.size, len(series)), np.nan)
    for j, (_, b, v) in enumerate(series):
        m[np.searchsorted(bars, b), j] = v
    return bars, m, [n for n, _, _ in series]


def baseline_objectives(trace: Trace, bar_seconds: float) -> dict[str, float | None]:
    """Each baseline scored like a trial (trace.objective_of): mean − SE of its per-split
    active Sharpe, over the splits the trial has a score on (a trial that merely holds a
    baseline scores exactly that baseline's objective)."""
    units = trace.baseline_units()
    scored = [base for i, base in units.items() if trace.splits[i].active]
    per_split = scored or list(units.values())
    out: dict[str, float | None] = {}
    for k, name in enumerate(NAMES):
        if not per_split:
            out[name] = None
            continue
        scores = [sharpe(base[k], bar_seconds) for base in per_split]
        one = np.concatenate([base[k] for base in per_split])
        out[name] = mean_minus_se(scores, sharpe_standard_error(one, bar_seconds))
    return out


def seed_scores(trace: Trace, bar_seconds: float) -> tuple[float, ...]:
    n_seeds = max((len(st.active) for st in trace.splits.values()), default=0)
    out = []
    for k in range(n_seeds):
        s = [sharpe(st.active[k], bar_seconds) for st in trace.splits.values()
             if len(st.active) > k]
        out.append(float(np.mean(s)))
    return tuple(out)


def trial_evidence(t: TrialInput, n_attempted: int, trial_sharpes: np.ndarray,
                   bar_seconds: float, seed: int = 0) -> TrialEvidence:
    assert t.trace is not None
    _, active = t.trace.per_bar()
    d = deflated_sharpe(active, n_attempted, trial_sharpes)
    h = t.trace.holdout_active
    hs = None if h is None else sharpe(h, bar_seconds)
    ci = None if h is None else bootstrap_sharpe_ci(h, bar_seconds, seed=seed)
    seeds = seed_scores(t.trace, bar_seconds)
    return TrialEvidence(
        t.trial, t.objective, d.dsr if active.size >= 2 else None, d.sharpe, d.sr0, d.bars,
        d.skew, d.kurtosis, hs, ci, baseline_objectives(t.trace, bar_seconds), seeds,
        float(np.std(seeds, ddof=1)) if len(seeds) > 1 else None, tuple(t.trace.curve))


def compute(study: str, trials: list[TrialInput], bar_seconds: float, g: Any,
            pbo_blocks: int = 16, selected: int | None = None,
            pool: TrialPool | None = None) -> StudyEvidence:
    """The study's evidence, for `selected` (default: the complete trial with the best
    objective that has a trace), and the paper gates it would face. `pool`: the trials the
    deflated Sharpe ratio counts (engine.study.pool), by default the study's own."""
    n_attempted = len({t.trial for t in trials})
    bars, m, numbers = returns_matrix(trials)
    res = pbo_returns(m, pbo_blocks) if m.shape[1] >= 2 else None
    pbo = None if res is None else res.pbo
    pool = pool if pool is not None else pool_of(trial_sharpes(trials))
    srs = np.asarray(pool.sharpes, dtype=np.float64)
    pick = _select(trials, selected)
    best = None
    if pick is not None and pick.trace is not None:
        best = trial_evidence(pick, pool.n, srs, bar_seconds)
    gates: list[GateResult] = []
    if pick is not None:
        facts = GateTrial(study, pick.trial, pick.state, pick.objective, pick.model_path)
        gates = paper_gates(g, [facts],
                            evidence=[None if best is None else best.facts(pbo, pool)])
    elif selected is not None or trials:
        gates = evidence_gates(g, None)
    return StudyEvidence(study, n_attempted, len(numbers), pbo, pbo_blocks, int(bars.size),
                         best, tuple(gates), tuple(summarize(t) for t in trials), pool)


def _select(trials: list[TrialInput], selected: int | None) -> TrialInput | None:
    if selected is not None:
        return next((t for t in trials if t.trial == selected), None)
    done = [t for t in trials if t.state == "COMPLETE" and t.objective is not None
            and t.trace is not None]
    return max(done, key=lambda t: (t.objective, -t.trial)) if done else None


# -- from a store ------------------------------------------------------------------------------
def trial_folder(cfg: Any, study: str, trial: int) -> Path:
    return Path(cfg.paths.models) / study / f"trial-{trial}"


def study_inputs(cfg: Any, store: Any, study: str) -> list[TrialInput]:
    """Every trial attempted in the study: its latest outcome and its trace, if any."""
    from store import registry

    latest: dict[int, Any] = {}
    done: dict[int, Any] = {}
    for a in registry.list_attempts(store, study):
        if a.trial not in latest or a.attempt > latest[a.trial].attempt:
            latest[a.trial] = a
        if a.state == "COMPLETE":
            done[a.trial] = a
    out = []
    for n, a in sorted(latest.items()):
        final = done.get(n, a)
        model = (None if final.mirrored else final.model_path) if final.state == "COMPLETE" else None
        trace = load_trace(Path(model)) if model else None
        if trace is None:  # a pruned or failed trial's folder, or a model kept elsewhere
            trace = load_trace(trial_folder(cfg, study, n))
        out.append(TrialInput(n, final.state, final.objective, trace, model))
    return out


def study_evidence(cfg: Any, store: Any, study: str,
                   trial: int | None = None) -> StudyEvidence:
    """What `cappuccino study show` prints and what the paper gate of `trial` enforces."""
    from store import registry

    row = registry.get_study(store, study)
    inputs = study_inputs(cfg, store, study)
    return compute(study, inputs, bar_seconds_of(row.timeframe if row else cfg.data.timeframe),
                   cfg.gates, cfg.study.pbo_blocks, trial,
                   study_pool(cfg, store, study, inputs))


def bar_seconds_of(timeframe: str) -> int:
    from engine.data.candles import TIMEFRAME_SECONDS

    return int(TIMEFRAME_SECONDS.get(timeframe, 300))
