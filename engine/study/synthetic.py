"""Synthetic trial evidence: the trace a worker would leave on a market with a planted edge.

For tests, fixtures and demonstrations of the gates (engine.gates) without training: `splits`
CPCV test blocks of `block` bars and a held-out block, on a market whose equal-weight
benchmark rises by `market_drift` a bar (so cash, HODL and a static tilt are beaten by any
real edge), with per-bar active returns N(mean, sd) for each of `seeds` seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.study.trace import Trace

EDGE = 2e-4        # a real edge: per-bar active Sharpe 0.2 at the default sd
FEE_NOISE = -5e-5  # a noise policy that pays fees


def planted_trace(mean: float, seed: int, *, splits: int = 4, block: int = 1000,
                  seeds: int = 1, sd: float = 1e-3, market_drift: float = 1e-4) -> Trace:
    rng = np.random.default_rng(seed)

    def base() -> np.ndarray:
        ew = rng.normal(market_drift, 2e-3, block)
        return np.stack([-ew, rng.normal(-2e-5, 5e-4, block), np.zeros(block),
                         rng.normal(-3e-5, 1e-3, block)])

    t = Trace()
    for i in range(splits):
        t.add_split(i, np.arange(i * block, (i + 1) * block), base())
        for _ in range(seeds):
            t.add_active(i, rng.normal(mean, sd, block))
    start = (splits + 1) * block
    t.set_holdout(np.arange(start, start + block), rng.normal(mean, sd, block), base())
    t.curve = list(np.linspace(-1.0, 0.0, 8))
    return t


def write_planted(models: Path, study: str, trial: int, mean: float, **kw: object) -> Path:
    """Save a planted trace where study_evidence looks for the trial's evidence."""
    # kw: planted_trace's own keywords (ints and floats), passed through for tests
    return planted_trace(mean, trial, **kw).save(  # type: ignore[arg-type]
        Path(models) / study / f"trial-{trial}")
