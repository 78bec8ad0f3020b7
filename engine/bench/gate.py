"""gate_false_pass_rate and gate_detection_rate: the paper gate on simulated studies.

A simulated study is what a study's workers leave behind (engine.study.trace): TRIALS
trials, each with SPLITS CPCV test blocks of BLOCK 5-minute bars × SEEDS seeds and a
held-out block, and the trivial baselines on the same bars. The market has ASSETS tickers
with Student-t(4) returns and no drift. A trial without skill holds its own static tilt
(random weights) with per-seed tracking noise and pays some churn: its active returns over
the equal-weight portfolio have no edge. In a null study every trial is such a trial
(false passes); in an edge study one of them also times the market for EDGE a bar over the
benchmark (detection). Each study is judged by engine.study.evidence.compute with the
default [gates], the code `study show` and `promote --to paper` run, on the trial it
selects (the best objective).

Side by side on the same studies: the gate issue 12 replaced (CPCV objective > 0 alone).
Notes carry Wilson 95 % intervals and the rate of the deflated-Sharpe gate alone, whose
stated level is 5 % (DSR >= 0.95); the whole gate must be at or below it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.bench import Result
from engine.bench.monitor_alarm import wilson
from engine.config.schema import GatesSection
from engine.study.evidence import TrialInput, compute
from engine.study.trace import Trace, objective_of

BAR_S = 300
TRIALS, SPLITS, SEEDS, BLOCK, ASSETS = 8, 3, 3, 1600, 3
VOL = 2e-3          # per-bar sd of each ticker's return
TRACKING = 3e-4     # per-bar sd of a seed's departure from its trial's tilt
CHURN = 1e-5        # per-bar fees of a policy that trades
EDGE = 8e-5         # the edge trial's timing gain a bar: about a tenth of its active sd


@dataclass(frozen=True)
class GateRate:
    n: int
    passes: int          # studies whose selected trial passed every paper gate
    old_passes: int      # ... whose selected trial had an objective > 0 (the old gate)
    dsr_passes: int      # ... whose selected trial's DSR >= paper_min_dsr

    @property
    def rate(self) -> float:
        return self.passes / self.n


def _market(rng: np.random.Generator, bars: int) -> np.ndarray:
    return rng.standard_t(4, (bars, ASSETS)) * (VOL / math.sqrt(2.0))  # t(4): variance 2


def _baselines(r: np.ndarray, tilt: np.ndarray) -> np.ndarray:
    """cash, hodl, equal weight, static tilt: active returns over equal weight (NAMES)."""
    ew = r.mean(axis=1)
    held = np.cumprod(1 + r, axis=0)
    hodl_w = np.vstack([np.full(ASSETS, 1 / ASSETS), held[:-1] / held[:-1].sum(1, keepdims=True)])
    return np.stack([-ew, (hodl_w * r).sum(1) - ew, np.zeros_like(ew), r @ tilt - ew])


Market = tuple[list[np.ndarray], list[np.ndarray]]   # (returns, baselines) of each block


def market(rng: np.random.Generator) -> Market:
    """The CV and held-out blocks' returns and their baselines: one set of candles."""
    blocks = [_market(rng, BLOCK) for _ in range(SPLITS + 1)]
    tilt = rng.dirichlet(np.ones(ASSETS))  # the static tilt baseline: fitted on noise
    return blocks, [_baselines(r, tilt) for r in blocks]


def study(rng: np.random.Generator, edge: float = 0.0, trials: int = TRIALS,
          data: Market | None = None, tilted: bool = True) -> list[TrialInput]:
    """One simulated study (module doc) of `trials` trials, on `data` (else a new market);
    trial 0 carries `edge`. tilted=False: each trial holds the benchmark with its tracking
    noise and no churn, zero true active return, so the trials' Sharpe estimates differ by
    sampling error alone (the deflated Sharpe ratio's own null)."""
    blocks, base = data if data is not None else market(rng)
    out = []
    for n in range(trials):
        w = rng.dirichlet(np.ones(ASSETS)) if tilted else np.full(ASSETS, 1 / ASSETS)
        churn = CHURN if tilted else 0.0
        gain = edge if n == 0 else 0.0

        def active(r: np.ndarray, w: np.ndarray = w, gain: float = gain,
                   churn: float = churn) -> np.ndarray:
            a: np.ndarray = (r @ w - r.mean(axis=1) - churn + gain
                             + rng.normal(0.0, TRACKING, len(r)))
            return a

        t = Trace()
        for i in range(SPLITS):
            t.add_split(i, np.arange(i * BLOCK, (i + 1) * BLOCK), base[i])
            for _ in range(SEEDS):
                t.add_active(i, active(blocks[i]))
        start = (SPLITS + 1) * BLOCK
        t.set_holdout(np.arange(start, start + BLOCK), active(blocks[-1]), base[-1])
        out.append(TrialInput(n, "COMPLETE", objective_of(t, BAR_S), t, f"/sim/{n}"))
    return out


def simulate(n_studies: int, edge: float, seed: int = 17,
             gates: GatesSection | None = None) -> GateRate:
    g = gates or GatesSection()
    rng = np.random.default_rng(seed)
    passes = old = dsr = 0
    for _ in range(n_studies):
        ev = compute("sim", study(rng, edge), BAR_S, g)
        passes += ev.passed
        b = ev.best
        old += bool(b is not None and b.objective is not None
                    and b.objective > g.paper_min_objective)
        dsr += bool(b is not None and b.dsr is not None and b.dsr >= g.paper_min_dsr)
    return GateRate(n_studies, passes, old, dsr)


def run(quick: bool, workdir: Path) -> dict[str, Result]:
    n = 60 if quick else 300
    out = {}
    for name, edge, what in (("gate_false_pass_rate", 0.0, "null studies (no edge)"),
                             ("gate_detection_rate", EDGE, "studies with one real edge")):
        r = simulate(n, edge)
        lo, hi = wilson(r.passes, r.n)
        dlo, dhi = wilson(r.dsr_passes, r.n)
        out[name] = Result(r.rate, "fraction", r.old_passes / r.n,
                           f"paper gate passed, {n} simulated {what} of {TRIALS} trials x "
                           f"{SPLITS} splits x {SEEDS} seeds; 95% CI [{lo:.3f}, {hi:.3f}]; "
                           f"DSR gate alone {r.dsr_passes / r.n:.3f} [{dlo:.3f}, {dhi:.3f}]"
                           f"{' (its level: 0.05)' if edge == 0 else ''}; "
                           "baseline: the old gate, objective > 0 alone")
    out.update(shopping(quick))
    return out


def shopping(quick: bool) -> dict[str, Result]:
    """Study shopping (engine.bench.gate_shopping): K null studies of M trials on one set
    of candles, judged with N per study (baseline) and N over every trial on the data."""
    from engine.bench import gate_shopping as gs

    n = 30 if quick else 150
    r = gs.simulate(n, tilted=False)
    what = (f"{n} sets of {gs.K} null studies x {gs.M} trials on the same data (trials hold "
            f"the benchmark with tracking noise: Sharpe estimates differ by sampling error "
            f"alone), a set passes when any study's best does")

    def ci(k: int) -> str:
        lo, hi = wilson(k, n)
        return f"{k}/{n} [{lo:.3f}, {hi:.3f}]"

    return {
        "gate_shopping_false_pass_rate": Result(
            r.new / n, "fraction", r.old / n,
            f"paper gate passed, {what}; N = every trial on the data {ci(r.new)}; "
            f"baseline: N per study {ci(r.old)} (95% Wilson CIs)"),
        "gate_shopping_dsr_false_pass_rate": Result(
            r.new_dsr / n, "fraction", r.old_dsr / n,
            f"deflated-Sharpe gate alone (its level: 0.05 for one study), {what}; N = every "
            f"trial on the data {ci(r.new_dsr)}; baseline: N per study {ci(r.old_dsr)} "
            "(95% Wilson CIs)")}
