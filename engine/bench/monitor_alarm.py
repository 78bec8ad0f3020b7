"""monitor_false_alarm_rate and monitor_detection_rate: the monitor's levels, simulated.

Each simulated trader has a backtest Sharpe *estimated* from `backtest_bars` bars of a
return process whose true annual Sharpe is TRUE_SHARPE, then trades live on fresh bars of
the same process (false alarms) or of one whose true Sharpe is `drop` lower (detection).
The process is realistic enough to matter: Student-t (4 dof) innovations and AR(1)
autocorrelation RHO on 5-minute bars. engine.monitor.cycle.run_cycle runs every
interval_s over `hours` hours of live equity in a real store, and a trader counts when any
cycle put it at CRITICAL or EMERGENCY. The baseline, side by side, is the previous fixed
rule (CRITICAL when live trails backtest by 1 Sharpe) applied to the very same verdicts.
Rates carry a Wilson 95 % interval in the note.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.config import Config
from engine.config.schema import MonitorSection, StoreSection
from engine.metrics import sharpe
from engine.monitor.cycle import CRITICAL, EMERGENCY, run_cycle
from store.db import Store
from store.fixtures import add_equity, add_traders

BAR_S = 300.0
PPY = 365 * 86_400 / BAR_S
TRUE_SHARPE = 2.0
SIGMA = 2e-3
RHO = 0.05
OLD_CRITICAL_GAP = 1.0   # the former fixed rule: CRITICAL at backtest - 1.0


@dataclass(frozen=True)
class AlarmRate:
    hits: int
    n: int
    old_hits: int

    @property
    def rate(self) -> float:
        return self.hits / self.n

    @property
    def old_rate(self) -> float:
        return self.old_hits / self.n


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson (1927) score interval of a binomial proportion."""
    p = hits / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def returns(rng: np.random.Generator, n: int, annual_sharpe: float) -> np.ndarray:
    """n per-bar returns: AR(1) with Student-t(4) innovations, unit variance, then scaled."""
    e = rng.standard_t(4, n + 200) / math.sqrt(2.0)   # t(4) has variance 2
    x = np.empty_like(e)
    x[0] = e[0]
    a = math.sqrt(1 - RHO * RHO)
    for i in range(1, len(e)):
        x[i] = RHO * x[i - 1] + a * e[i]
    return annual_sharpe / math.sqrt(PPY) * SIGMA + SIGMA * x[200:]


def simulate(workdir: Path, n_traders: int, drop: float, hours: float = 48.0,
             monitor: MonitorSection | None = None, seed: int = 11) -> AlarmRate:
    """Run the real monitor cycle over n_traders simulated traders (see the module doc)."""
    m = monitor or MonitorSection(halt_wait_s=0.0)
    path = workdir / f"alarm-{seed}-{drop:g}.db"
    cfg = Config(store=StoreSection(path=str(path)), monitor=m)
    rng = np.random.default_rng(seed)
    bars = int(hours * 3600 / BAR_S)
    start = 1_800_000_000.0
    at = start + BAR_S * np.arange(bars + 1)
    logging.getLogger("cappuccino.monitor").setLevel(logging.ERROR)  # auto-stop lines
    store = Store(cfg.store.path)
    try:
        with store.write():
            for i in range(n_traders):
                bt = sharpe(returns(rng, m.backtest_bars, TRUE_SHARPE), BAR_S)
                live = returns(rng, bars, TRUE_SHARPE - drop)
                eq = 1000.0 * np.concatenate(([1.0], np.cumprod(1.0 + live)))
                name = f"sim{i:04d}"
                add_traders(store.conn, [(name, "sim", "paper", "", "[]", "5m", "1000", bt,
                                          start, start)])
                add_equity(store.conn, (
                    (name, float(a), f"{e:.6f}", "0", float(e)) for a, e in zip(at, eq,
                                                                                  strict=True)))
        hit: set[str] = set()
        old: set[str] = set()
        first = start + m.min_samples * BAR_S   # no verdict before min_samples returns
        for now in np.arange(start + m.interval_s, at[-1] + 1, m.interval_s):
            if now < first:
                continue
            for v in run_cycle(cfg, store, float(now)):
                if v.level in (CRITICAL, EMERGENCY):
                    hit.add(v.trader)
                if (v.live_sharpe is not None and v.backtest_sharpe is not None
                        and v.backtest_sharpe - v.live_sharpe > OLD_CRITICAL_GAP):
                    old.add(v.trader)
    finally:
        store.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    return AlarmRate(len(hit), n_traders, len(old))
