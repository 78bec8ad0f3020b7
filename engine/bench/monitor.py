"""monitor_cycle_ms: one monitor cycle over 20 traders, each with 100k equity rows (5-min bars).

monitor_false_alarm_rate / monitor_detection_rate: engine.bench.monitor_alarm (the share of
simulated traders put at CRITICAL or worse within 48 h when live truly equals backtest, and
when live is truly 5 Sharpe worse), each beside the former fixed rule on the same verdicts.

Baseline, side by side: the same verdicts from each trader's *whole* equity history read
through sqlite3.Row objects (what a monitor that does not read only its window costs).
The figure is the median of 5 cycles (baseline: of 3); the first cycle also writes the
alerts, outbox rows and auto-stop commands (half the bench traders are far below backtest).
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path

import numpy as np

from engine.bench import Result
from engine.bench.monitor_alarm import simulate, wilson
from engine.config import Config
from engine.config.schema import MonitorSection, StoreSection
from engine.monitor.cycle import evaluate, load_traders, run_cycle
from store.db import Store
from store.fixtures import add_equity, add_traders, equity_f_series

TRADERS = 20
BAR_S = 300.0


def build(store: Store, rows: int, end: float, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    at = end - BAR_S * np.arange(rows)[::-1]
    with store.write():
        for i in range(TRADERS):
            name = f"bench{i:02d}"
            add_traders(store.conn, [(name, "sim", "paper" if i % 2 else "live", "m", "[]",
                                      "5m", "1000", 1.5, at[0], end)])
            drift = (i - TRADERS / 2) * 2e-6
            eq = 1000.0 * np.exp(np.cumsum(rng.normal(drift, 1e-3, rows)))
            add_equity(store.conn, (
                (name, float(a), f"{e:.2f}", "0", float(e)) for a, e in zip(at, eq, strict=True)))


def full_history_cycle(cfg: Config, store: Store, now: float) -> int:
    n = 0
    for t in load_traders(store):
        rows = equity_f_series(store, t.name)
        at = np.array([r[0] for r in rows], dtype=float)
        eq = np.array([r[1] for r in rows], dtype=float)
        evaluate(cfg, t, at, eq, now)
        n += len(rows)
    return n


def run(quick: bool, workdir: Path) -> dict[str, Result]:
    rows = 10_000 if quick else 100_000
    logging.getLogger("cappuccino.monitor").setLevel(logging.ERROR)  # auto-stop lines
    cfg = Config(store=StoreSection(path=str(workdir / "bench.db")),
                 monitor=MonitorSection(halt_wait_s=0.0))
    store = Store(cfg.store.path)
    try:
        end = 1_800_000_000.0
        build(store, rows, end)
        cycle, base = [], []
        for k in range(5):
            now = end + k * 60.0
            t0 = time.perf_counter()
            run_cycle(cfg, store, now)
            cycle.append((time.perf_counter() - t0) * 1000)
            if k < 3:  # the baseline is slow at full size: three runs are enough
                t0 = time.perf_counter()
                full_history_cycle(cfg, store, now)
                base.append((time.perf_counter() - t0) * 1000)
    finally:
        store.close()
    note = f"{TRADERS} traders x {rows} equity rows; median of 5 cycles"
    return {"monitor_cycle_ms": Result(statistics.median(cycle), "ms",
                                       statistics.median(base), note), **alarms(quick, workdir)}


def alarms(quick: bool, workdir: Path) -> dict[str, Result]:
    n = 200 if quick else 1000
    out = {}
    for name, drop, what in (("monitor_false_alarm_rate", 0.0, "live = backtest"),
                             ("monitor_detection_rate", 5.0, "live 5 Sharpe below backtest")):
        r = simulate(workdir, n, drop)
        lo, hi = wilson(r.hits, r.n)
        out[name] = Result(r.rate, "fraction", r.old_rate,
                           f"CRITICAL+ within 48 h, {what}, {n} simulated traders; 95% CI "
                           f"[{lo:.3f}, {hi:.3f}]; baseline: the old fixed 1-Sharpe rule")
    return out
