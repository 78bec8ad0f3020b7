"""Study shopping on one set of candles: several studies in one store, the same layout.

Each study is what its workers leave: a `studies` row, the layout its first `train`
recorded (engine.study.layout.check), attempts and evidence files. `noise` trials have no
edge (per-bar active returns N(0, 1e-3) over 4 × 1000 bars: their per-bar Sharpe estimates
spread with sd 0.016). The shopped study `shop-0` holds two trials that look good, per-bar
Sharpe about 0.04 and 0.03 (two standard errors, what luck gives a few of a dozen noise
trials), the first with a held-out segment that clears its gate: deflated by its own
study's two trials it passes every paper gate (DSR 0.99, PBO 0.06); deflated by the twelve
trials tried on the same data it is refused (DSR 0.90).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engine.study import layout
from engine.study.synthetic import planted_trace
from engine.study.trace import Trace, objective_of
from store import registry
from store.db import Store

BLOCK, SPLITS = 1000, 4
LAYOUT = {"data": "5eed5eed5eed5eed", "timeframe": "5m", "cv": [0, BLOCK * SPLITS],
          "holdout": [BLOCK * (SPLITS + 1), BLOCK * (SPLITS + 2)],
          "tests": [[[i * BLOCK, (i + 1) * BLOCK]] for i in range(SPLITS)]}


def lucky_trace(mean: float, seed: int, holdout: float | None = None) -> Trace:
    """A trial with a small per-bar edge; `holdout`: its held-out mean (else `mean`)."""
    t = planted_trace(mean, seed, splits=SPLITS, block=BLOCK)
    if holdout is not None:
        rng = np.random.default_rng(seed + 1000)
        assert t.holdout_bars is not None and t.holdout_base is not None
        t.set_holdout(t.holdout_bars, rng.normal(holdout, 1e-3, BLOCK), t.holdout_base)
    return t


def noise_trace(seed: int) -> Trace:
    return planted_trace(0.0, seed, splits=SPLITS, block=BLOCK)


def add_study(models: Path, store: Store, study: str, traces: dict[int, Trace],
              lay: dict[str, Any] | None = None) -> None:
    registry.upsert_study(store, study, "journal", "5m", len(traces))
    layout.check(store, study, lay or LAYOUT)
    for trial, trace in traces.items():
        att = registry.start_attempt(store, study, trial, {})
        folder = models / study / f"trial-{trial}"
        trace.save(folder)
        registry.end_attempt(store, att.id, "COMPLETE", objective=objective_of(trace, 300),
                             model_path=str(folder))
        with store.write():
            store.conn.execute(
                "INSERT INTO models (path, study, trial, objective, sharpe, created_at) "
                "VALUES (?, ?, ?, ?, 1.0, 0)",
                (str(folder), study, trial, objective_of(trace, 300)))


def shopped() -> dict[int, Trace]:
    """`shop-0`'s two trials (module doc)."""
    return {0: lucky_trace(4e-5, 8, holdout=3e-4), 1: lucky_trace(3e-5, 11)}


def shop(models: Path, store: Store, k: int = 6) -> None:
    """`shop-0` and k − 1 studies of two noise trials, all on the same data."""
    add_study(models, store, "shop-0", shopped())
    for s in range(1, k):
        add_study(models, store, f"shop-{s}", {n: noise_trace(100 * s + n) for n in range(2)})
