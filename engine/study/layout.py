"""A study's data layout, recorded once: every trial's evidence must index the same bars.

A trial's evidence (engine.study.trace) keeps its out-of-sample returns by bar *index*, and
the study's PBO and deflated Sharpe ratio pool every trial's returns bar by bar
(engine.study.evidence.returns_matrix), annualised by the study's timeframe. Trials run on
other candles (a `data fetch` between two `train` runs moves every index), another
timeframe or another CV layout would be pooled as if they had seen the same bars. So the
first `train` of a study records its layout (the data's fingerprint, the timeframe, the CV
and held-out bars, each split's test blocks) in the store, and in the shared Optuna study
when hosts share one (each host fetches its own candles), and a later `train` or worker
whose layout differs is refused, naming what changed.
"""

from __future__ import annotations

import json
from typing import Any

KEY = "study_layout:"
ATTR = "cappuccino_layout"   # the same, in a shared (RDB) Optuna study


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


def _compare(study: str, held: Any, layout: dict[str, Any], where: str) -> None:
    if held == json.loads(json.dumps(layout)):
        return
    if not isinstance(held, dict):
        raise LayoutMismatchError(f"study {study!r}: its data layout in {where} is unreadable")
    changed = [k for k in ("data", "timeframe", "cv", "holdout", "tests")
               if held.get(k) != layout.get(k)]
    raise LayoutMismatchError(
        f"study {study!r} ran on {_describe(held)} ({where}); this config gives "
        f"{_describe(layout)} ({', '.join(changed)} changed): its trials' evidence cannot be "
        "pooled with theirs; start a new study (--study NAME)")


def _loads(text: str | None) -> Any:
    try:
        return None if text is None else json.loads(text)
    except ValueError:
        return "unreadable"


def check(store: Any, study: str, layout: dict[str, Any], shared: Any = None) -> None:
    """Record the study's layout where it has none (this store; with `shared`, an Optuna
    study in a storage other hosts share, its user attr ATTR); raise LayoutMismatchError,
    recording nothing, when a recorded one differs."""
    from store import kv

    text = json.dumps(layout, sort_keys=True)
    held = _loads(kv.get(store, KEY + study))
    if held is not None:
        _compare(study, held, layout, "this store")
    if shared is not None:
        other = shared.user_attrs.get(ATTR)
        if other is not None:
            _compare(study, other, layout, "the shared study storage")
        else:  # hosts starting together: the last write wins; each checks at its next train
            shared.set_user_attr(ATTR, json.loads(text))
    if held is None:  # another train may have recorded it meanwhile: compare what is kept
        _compare(study, _loads(kv.put_if_absent(store, KEY + study, text)), layout,
                 "this store")


def check_config(cfg: Any, store: Any, study: str, timeframe: str, data: Any,
                 shared: Any = None) -> None:
    """check() for prepared StudyData under cfg (the driver and each worker)."""
    from engine.study.objective import select_splits

    check(store, study, layout_of(data, select_splits(cfg, data), timeframe), shared)
