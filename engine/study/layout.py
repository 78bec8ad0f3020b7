"""A study's data layout, recorded once: every trial's evidence must index the same bars.

A trial's evidence (engine.study.trace) keeps its out-of-sample returns by bar *index*, and
the study's PBO and deflated Sharpe ratio pool every trial's returns bar by bar
(engine.study.evidence.returns_matrix), annualised by the study's timeframe. Trials run on
other candles (a `data fetch` between two `train` runs moves every index), another
timeframe or another CV layout would be pooled as if they had seen the same bars. So the
first `train` of a study records its layout (the data's fingerprint, the timeframe, the CV
and held-out bars, each split's test blocks) in the store, and a later `train` or worker
whose layout differs is refused, naming what changed.
"""

from __future__ import annotations

import json
from typing import Any

KEY = "study_layout:"


class LayoutMismatchError(ValueError):
    """This config's data or CV layout is not the one the study's trials ran on."""


def layout_of(data: Any, splits: list[Any], timeframe: str) -> dict[str, Any]:
    """The layout of prepared StudyData and its selected splits (engine.study.objective)."""
    return {"data": str(data.fingerprint), "timeframe": timeframe,
            "cv": [int(data.cv[0]), int(data.cv[1])],
            "holdout": [int(data.holdout[0]), int(data.holdout[1])],
            "tests": [[[int(a), int(b)] for a, b in s.test] for s in splits]}


def _describe(lay: dict[str, Any]) -> str:
    return (f"data {lay.get('data')}, {lay.get('timeframe')}, CV bars {lay.get('cv')}, "
            f"held-out {lay.get('holdout')}, {len(lay.get('tests') or [])} splits")


def check(store: Any, study: str, layout: dict[str, Any]) -> None:
    """Record the study's layout if it has none; raise LayoutMismatchError if it differs."""
    from store import kv

    held = kv.put_if_absent(store, KEY + study, json.dumps(layout, sort_keys=True))
    try:
        recorded = json.loads(held)
    except ValueError:
        recorded = None
    if recorded == json.loads(json.dumps(layout)):
        return
    if not isinstance(recorded, dict):
        raise LayoutMismatchError(f"study {study!r}: its recorded data layout is unreadable")
    changed = [k for k in ("data", "timeframe", "cv", "holdout", "tests")
               if recorded.get(k) != layout.get(k)]
    raise LayoutMismatchError(
        f"study {study!r} ran on {_describe(recorded)}; this config gives {_describe(layout)} "
        f"({', '.join(changed)} changed): its trials' evidence cannot be pooled with "
        "theirs; start a new study (--study NAME)")


def check_config(cfg: Any, store: Any, study: str, timeframe: str, data: Any) -> None:
    """check() for prepared StudyData under cfg (the driver and each worker)."""
    from engine.study.objective import select_splits

    check(store, study, layout_of(data, select_splits(cfg, data), timeframe))
