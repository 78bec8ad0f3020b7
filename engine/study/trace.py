"""A trial's evidence: its per-bar out-of-sample active returns, and the file that keeps them.

Per CPCV split: the bars tested (the bar each return starts at), one row of active returns
per seed trained so far, and the trivial baselines' active returns on the same bars
(engine.study.baselines.NAMES). Then the held-out segment's active returns (the final fit)
with its baselines, and the final fit's learning curve (mean training reward per PPO
update). The worker writes it as `evidence.npz` in the trial's model folder after every
unit (atomically: a temporary file, then rename), so a pruned or failed trial keeps the
splits it finished.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

FILE = "evidence.npz"


@dataclass
class SplitTrace:
    bars: np.ndarray                                  # (n,) int64
    base: np.ndarray                                  # (len(NAMES), n)
    active: list[np.ndarray] = field(default_factory=list)  # one (n,) row per seed


@dataclass
class Trace:
    splits: dict[int, SplitTrace] = field(default_factory=dict)
    holdout_bars: np.ndarray | None = None
    holdout_active: np.ndarray | None = None
    holdout_base: np.ndarray | None = None
    curve: list[float] = field(default_factory=list)
    # "" while the trial runs or once it completed; "PRUNED"/"FAILED" when it ended before
    # finishing (a population trial pruned before any split leaves an empty, marked trace)
    status: str = ""

    # -- building ---------------------------------------------------------------------------
    def add_split(self, i: int, bars: np.ndarray, base: np.ndarray) -> None:
        self.splits[i] = SplitTrace(np.asarray(bars, dtype=np.int64),
                                    np.asarray(base, dtype=np.float64))

    def add_active(self, i: int, active: np.ndarray) -> None:
        st = self.splits[i]
        a = np.asarray(active, dtype=np.float64)
        if a.shape != st.bars.shape:
            raise ValueError(f"split {i}: {a.shape[0]} active returns for {st.bars.size} bars")
        st.active.append(a)

    def set_holdout(self, bars: np.ndarray, active: np.ndarray, base: np.ndarray) -> None:
        self.holdout_bars = np.asarray(bars, dtype=np.int64)
        self.holdout_active = np.asarray(active, dtype=np.float64)
        self.holdout_base = np.asarray(base, dtype=np.float64)

    # -- reading ----------------------------------------------------------------------------
    def unit_actives(self) -> list[np.ndarray]:
        """Every (split, seed) unit's active returns, split by split."""
        return [a for i in sorted(self.splits) for a in self.splits[i].active]

    def per_bar(self) -> tuple[np.ndarray, np.ndarray]:
        """(bars, active): one out-of-sample active return per tested bar, the mean over
        the seeds and splits that tested it (CPCV with k > 1 tests a bar several times)."""
        bars = [st.bars for st in self.splits.values() for _ in st.active]
        vals = [a for st in self.splits.values() for a in st.active]
        if not vals:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        b, v = np.concatenate(bars), np.concatenate(vals)
        uniq, inv = np.unique(b, return_inverse=True)
        total = np.bincount(inv, weights=v, minlength=uniq.size)
        count = np.bincount(inv, minlength=uniq.size)
        return uniq, total / count

    def active_returns(self) -> np.ndarray:
        return self.per_bar()[1]

    def baseline_units(self) -> dict[int, np.ndarray]:
        """Per split: the baselines' (len(NAMES), n) active returns."""
        return {i: st.base for i, st in sorted(self.splits.items())}

    # -- state (checkpoints) and file -------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        bars, active, base = self.holdout_bars, self.holdout_active, self.holdout_base
        return {"splits": {i: {"bars": st.bars.tolist(), "base": st.base.tolist(),
                               "active": [a.tolist() for a in st.active]}
                           for i, st in self.splits.items()},
                "holdout": None if bars is None or active is None or base is None else {
                    "bars": bars.tolist(), "active": active.tolist(), "base": base.tolist()},
                "curve": list(self.curve)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Trace:
        t = cls(curve=list(state.get("curve", [])))
        for i, st in (state.get("splits") or {}).items():
            t.add_split(int(i), np.asarray(st["bars"]), np.asarray(st["base"]))
            for a in st["active"]:
                t.add_active(int(i), np.asarray(a))
        h = state.get("holdout")
        if h:
            t.set_holdout(np.asarray(h["bars"]), np.asarray(h["active"]), np.asarray(h["base"]))
        return t

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {"curve": np.asarray(self.curve, dtype=np.float64)}
        if self.status:
            arrays["status"] = np.asarray(self.status)
        for i, st in self.splits.items():
            arrays[f"s{i}_bars"] = st.bars
            arrays[f"s{i}_base"] = st.base
            arrays[f"s{i}_active"] = (np.stack(st.active) if st.active
                                      else np.zeros((0, st.bars.size)))
        if self.holdout_active is not None:
            # set_holdout() sets all three together: bars and base are arrays here too
            arrays.update(h_bars=cast(np.ndarray, self.holdout_bars), h_active=self.holdout_active,
                          h_base=cast(np.ndarray, self.holdout_base))
        path = directory / FILE
        tmp = directory / f".{FILE}.{os.getpid()}.tmp"
        with tmp.open("wb") as f:
            # Any: mypy reads **arrays as possibly filling savez's allow_pickle; no key is named so
            np.savez(f, **cast(dict[str, Any], arrays))
        os.replace(tmp, path)
        return path


def objective_of(trace: Trace, bar_seconds: float) -> float:
    """The trial objective: mean − one standard error of the per-split active Sharpe, each
    split's score the mean over its seeds (engine.study.stats.mean_minus_se).

    A split's seeds are tested on the same bars of the same market: they are not independent
    draws, and counting each (split, seed) unit as one would shrink the standard error by up
    to √seeds (three seeds that agree would look three times as sure). With one split, the
    standard error of its seed-averaged per-bar returns (Lo 2002)."""
    from engine.metrics import sharpe
    from engine.study.stats import mean_minus_se, sharpe_standard_error

    scores = [float(np.mean([sharpe(a, bar_seconds) for a in st.active]))
              for _, st in sorted(trace.splits.items()) if st.active]
    return mean_minus_se(scores, sharpe_standard_error(trace.active_returns(), bar_seconds))


def load_trace(path: Path) -> Trace | None:
    """The trace in `path` (a trial folder or the file); None when absent or unreadable."""
    p = path / FILE if path.is_dir() else path
    try:
        with np.load(p, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    t = Trace(curve=d.get("curve", np.zeros(0)).tolist(),
              status=str(d["status"]) if "status" in d else "")
    for k in d:
        if k.startswith("s") and k.endswith("_bars") and k[1:-5].isdigit():
            i = int(k[1:-5])
            t.add_split(i, d[k], d[f"s{i}_base"])
            for row in d[f"s{i}_active"]:
                t.add_active(i, row)
    if "h_active" in d:
        t.set_holdout(d["h_bars"], d["h_active"], d["h_base"])
    return t
