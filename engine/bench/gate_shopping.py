"""gate_shopping_false_pass_rate: study shopping on null data, old counting beside new.

An operator runs K small studies of M trials each on the same candles (engine.bench.gate's
null market and trials: no edge) and promotes whichever study's best passes the paper gate.
Old counting: each study's deflated Sharpe ratio is deflated by its own M trials (N = M,
V[SR_n] from them). New counting (engine.study.pool): by every trial on the same data (N =
K × M, V[SR_n] from all of them). A set of K studies is a false pass when any study's
selected trial passes every paper gate; the same sets are judged both ways in one run.

Only the deflated Sharpe ratio depends on the counting (its N gate always passes here), so a
study whose other gates fail is refused either way; the pooled evidence is computed (the
same engine.study.evidence.compute as `study show`) for the studies whose other gates pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.bench.gate import BAR_S, market, study
from engine.config.schema import GatesSection
from engine.study.evidence import StudyEvidence, compute
from engine.study.pool import pool_of, trial_sharpes
from engine.study.stats import deflated_sharpe

K, M = 6, 2      # six studies of two trials: the smallest study the PBO gate can judge
DSR = "deflated Sharpe ratio"


@dataclass(frozen=True)
class ShoppingRate:
    n: int               # sets of K studies
    old: int             # sets where some study passed the paper gate, own counting
    new: int             # ... counting every trial on the data
    old_dsr: int         # sets where some study's selected trial had DSR >= paper_min_dsr
    new_dsr: int


def _others_pass(ev: StudyEvidence) -> bool:
    return bool(ev.gates) and all(g.passed for g in ev.gates if not g.name.startswith(DSR))


def shop_once(rng: np.random.Generator, g: GatesSection, k: int = K, m: int = M,
              tilted: bool = True) -> tuple[bool, bool, bool, bool]:
    """(old pass, new pass, old DSR pass, new DSR pass) of one set of k null studies."""
    data = market(rng)
    studies = {f"s{i}": study(rng, 0.0, m, data, tilted) for i in range(k)}
    sharpes = {name: trial_sharpes(trials) for name, trials in studies.items()}
    old = new = old_dsr = new_dsr = False
    for name, trials in studies.items():
        ev = compute(name, trials, BAR_S, g)
        pool = pool_of(sharpes[name], {s: v for s, v in sharpes.items() if s != name})
        old |= ev.passed
        b = ev.best
        old_dsr |= bool(b is not None and b.dsr is not None and b.dsr >= g.paper_min_dsr)
        if b is None:
            continue
        pick = next(t for t in trials if t.trial == b.trial)
        assert pick.trace is not None
        d = deflated_sharpe(pick.trace.per_bar()[1], pool.n, np.asarray(pool.sharpes))
        new_dsr |= d.dsr >= g.paper_min_dsr
        if _others_pass(ev):   # only then can the pooled count change the verdict
            new |= compute(name, trials, BAR_S, g, pool=pool).passed
    return old, new, old_dsr, new_dsr


def simulate(n_sets: int, seed: int = 23, k: int = K, m: int = M, tilted: bool = True,
             gates: GatesSection | None = None) -> ShoppingRate:
    g = gates or GatesSection()
    rng = np.random.default_rng(seed)
    counts = np.zeros(4, dtype=int)
    for _ in range(n_sets):
        counts += np.asarray(shop_once(rng, g, k, m, tilted), dtype=int)
    return ShoppingRate(n_sets, *(int(c) for c in counts))
