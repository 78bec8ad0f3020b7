"""N for the deflated Sharpe ratio: every trial tried on the same data, not only the study's.

The deflated Sharpe ratio (engine.study.stats) deflates the selected trial by the expected
maximum Sharpe of N unskilled trials, with V[SR_n] the variance of their Sharpe estimates.
Counted per study, an operator who runs many small studies on the same candles (or
re-creates a study the gate refused) gets each deflated by its own few trials, and the best
of them passes more often than one study of all those trials would ("study shopping").

So N and V[SR_n] come from a pool: every trial of every study in this store whose recorded
layout has the same data (the candles' fingerprint and timeframe, engine.study.layout: a
study that only changed its CV layout or held-out share tried on the same candles too), the
trial ledger's rows of studies since deleted or re-created (store.ledger), and, for studies
shared by several hosts, the trials in the shared Optuna storage on the same data that this
store has not mirrored (engine.study.pool_shared writes them to the ledger from the study
driver and `study sync`: reading them here would pull Optuna into the console). A study
whose layout is not recorded pools its own trials only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.study.stats import bar_sharpe

SHARED = -1.0   # a ledger row's `created` for a trial read from the shared Optuna storage


@dataclass(frozen=True)
class TrialPool:
    """The trials a study's deflated Sharpe ratio counts (N) and their Sharpe estimates."""

    data: str | None          # the candles' fingerprint/timeframe; None: the study's own only
    own: int                  # this study's trials attempted
    others: tuple[tuple[str, int], ...] = ()   # (study, trials) of other studies on the data
    deleted: int = 0          # ledger rows of studies deleted or re-created since
    shared: int = 0           # trials on the same data in the shared storage, not mirrored here
    sharpes: tuple[float, ...] = field(default_factory=tuple)  # per-bar, every trial with one
    note: str = ""            # what could not be counted (an unreadable shared storage)

    @property
    def n(self) -> int:
        return self.own + sum(k for _, k in self.others) + self.deleted + self.shared

    def describe(self) -> str:
        parts = [f"{self.own} in this study"]
        if self.others:
            parts.append(f"{sum(k for _, k in self.others)} in {len(self.others)} other "
                         f"{'study' if len(self.others) == 1 else 'studies'} on the same data")
        if self.deleted:
            parts.append(f"{self.deleted} of deleted studies (trial ledger)")
        if self.shared:
            parts.append(f"{self.shared} in the shared storage not synced here")
        return ", ".join(parts) + (f" ({self.note})" if self.note else "")

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "data": self.data, "own": self.own,
                "others": [{"study": s, "trials": k} for s, k in self.others],
                "deleted": self.deleted, "shared": self.shared,
                "with_sharpe": len(self.sharpes), "note": self.note or None}


def trial_sharpes(inputs: list[Any]) -> dict[int, float | None]:
    """{trial: per-bar Sharpe of its out-of-sample active returns, None without any} of
    engine.study.evidence.TrialInput rows."""
    out: dict[int, float | None] = {}
    for t in inputs:
        active = t.trace.per_bar()[1] if t.trace is not None else np.zeros(0)
        out[t.trial] = bar_sharpe(active) if active.size else None
    return out


def pool_of(own: dict[int, float | None],
            others: dict[str, dict[int, float | None]] | None = None,
            data: str | None = None, deleted: list[float | None] | None = None,
            shared: int = 0, note: str = "") -> TrialPool:
    """The pool from each study's {trial: Sharpe} (the pure part: the bench feeds it)."""
    others = others or {}
    gone = deleted or []
    srs = [s for s in own.values() if s is not None]
    for trials in others.values():
        srs += [s for s in trials.values() if s is not None]
    srs += [s for s in gone if s is not None]
    return TrialPool(data, len(own), tuple((s, len(t)) for s, t in sorted(others.items())),
                     len(gone), max(0, int(shared)), tuple(float(s) for s in srs), note)


# -- from a store ------------------------------------------------------------------------------
def study_pool(cfg: Any, store: Any, study: str, own_inputs: list[Any]) -> TrialPool:
    """The pool of `study` in this store (module doc); own_inputs: its TrialInput rows."""
    from engine.study.evidence import study_inputs
    from store import ledger, registry

    own = trial_sharpes(own_inputs)
    keys = ledger.study_data_keys(store)
    data = keys.get(study)
    if data is None:
        return pool_of(own)
    created = {s.name: s.created_at for s in registry.list_studies(store)}
    live = {(study, created.get(study, 0.0), n) for n in own}
    others: dict[str, dict[int, float | None]] = {}
    for s, key in sorted(keys.items()):
        if key != data or s == study:
            continue
        trials = trial_sharpes(study_inputs(cfg, store, s))
        if trials:
            others[s] = trials
            live |= {(s, created.get(s, 0.0), n) for n in trials}
    rows = ledger.rows_for(store, data)
    deleted = [r.sharpe for r in rows if r.created != SHARED
               and (r.study, r.created, r.trial) not in live]
    # a shared row of a trial this store holds, or held (a deleted study's row), counts once
    here = {(s, n) for s, _, n in live} | {(r.study, r.trial) for r in rows
                                           if r.created != SHARED}
    shared = sum(1 for r in rows if r.created == SHARED and (r.study, r.trial) not in here)
    note = ledger.note(store, data) or ""
    return pool_of(own, others, data, deleted, shared, note)


def record_study(store: Any, study: str, inputs: list[Any]) -> None:
    """Write the study's trials to the trial ledger (nothing when its layout is unrecorded)."""
    from store import ledger, registry

    data = ledger.study_data_keys(store).get(study)
    if data is None:
        return
    row = registry.get_study(store, study)
    ledger.record(store, data, study, row.created_at if row else 0.0,
                  sorted(trial_sharpes(inputs).items()))
