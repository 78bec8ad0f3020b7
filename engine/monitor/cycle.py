"""One monitor cycle: verdicts for every paper/live trader, alert history, notifications, auto-stop.

Levels are z-scores of the live rolling Sharpe minus the trader's backtest Sharpe, divided
by the standard error of that gap (engine.metrics: Lo 2002 with a Newey-West
correction for the bars' autocorrelation, the backtest's own sample size on its side):
WARNING when z < -warning_z, CRITICAL when z < -critical_z, and EMERGENCY when
z < -emergency_z *sustained*: z (same window), evaluated at checkpoints every
max(interval_s, sustain/24) over the last emergency_sustain_h hours, was below -emergency_z
at every checkpoint, each with min_samples returns. No level is given before min_samples
returns. Sustain is measured on the data, not on the monitor's own uptime, so a monitor
restart neither resets nor fakes it. Below the emergency line but not yet sustained reads
CRITICAL. The thresholds' false-alarm and detection rates are `cappuccino bench` figures
(monitor_false_alarm_rate, monitor_detection_rate).

Windows end at the trader's latest equity point (at or before `now`), not at the wall clock:
a sim trader replaying history writes equity at bar times, and a live trader's latest point
is within a bar of now. Alert times, cooldowns and the auto-stop use the wall clock.

De-duplication uses the alerts table itself: an alert row (and a notification) is written
when a trader's level differs from its last alert's level, or when the same non-OK level is
still there `cooldown_s` after the last alert.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine.config import Config
from engine.config.schema import MonitorSection
from engine.metrics import (
    bar_seconds_of,
    lrv_ratio,
    periods_per_year,
    rolling_sharpe,
    sharpe_gap_z,
    window_returns,
)
from engine.notify.events import emit
from store import period
from store import trading as st
from store.alerts import AlertRow, insert_alert, last_alerts
from store.commands import insert_command
from store.db import Store
from store.processes import get_process

log = logging.getLogger("cappuccino.monitor")

OK, WARNING, CRITICAL, EMERGENCY = "OK", "WARNING", "CRITICAL", "EMERGENCY"
INSUFFICIENT, NO_BACKTEST = "INSUFFICIENT", "NO_BACKTEST"
JUDGED_MODES = ("paper", "live")
NOTIFY_LEVEL = {OK: "success", WARNING: "warning", CRITICAL: "failure", EMERGENCY: "failure"}


@dataclass(frozen=True)
class TraderInfo:
    name: str
    mode: str
    model: str
    study: str | None
    trial: int | None
    backtest_sharpe: float | None
    trading_state: str
    halt_requested: int
    backtest_bars: int | None = None   # the backtest's sample size (its model's held-out bars)


@dataclass(frozen=True)
class Verdict:
    trader: str
    mode: str
    level: str                # OK | WARNING | CRITICAL | EMERGENCY | INSUFFICIENT | NO_BACKTEST
    state: str                # what the console shows, e.g. "INSUFFICIENT DATA (12/288)"
    live_sharpe: float | None
    backtest_sharpe: float | None
    samples: int
    emergency_hours: float    # how long (on the data) the emergency line has been crossed
    message: str
    z: float | None = None    # (live - backtest) / SE of the gap; None without a verdict
    alerted: bool = False     # an alert row + notification were written this cycle
    stopped: bool = False     # the auto-stop was issued this cycle


def raw_level(z: float, m: MonitorSection) -> str:
    """The level of a z-score of live minus backtest Sharpe (negative: live is worse)."""
    if z < -m.emergency_z:
        return EMERGENCY
    if z < -m.critical_z:
        return CRITICAL
    if z < -m.warning_z:
        return WARNING
    return OK


def sustain_step_s(m: MonitorSection) -> float:
    sustain = m.emergency_sustain_h * 3600.0
    return max(m.interval_s, sustain / 24.0) if sustain > 0 else m.interval_s


def load_traders(store: Store) -> list[TraderInfo]:
    """The traders the monitor judges: paper and live ones (a backtest has no live record)."""
    return [TraderInfo(name=r.name, mode=r.mode, model=r.model, study=r.study, trial=r.trial,
                       backtest_sharpe=r.backtest_sharpe, trading_state=r.trading_state,
                       halt_requested=r.halt_requested, backtest_bars=backtest_bars(r.model))
            for r in st.list_traders(store) if r.mode in JUDGED_MODES]


def backtest_bars(model: str) -> int | None:
    """How many returns the model's backtest Sharpe was measured on (its held-out segment,
    from metrics.json), or None when the model does not say (an ensemble, an older model)."""
    try:
        metrics = json.loads((Path(model) / "metrics.json").read_text())
        lo, hi = metrics["holdout_bars"]
        n = int(hi) - int(lo) - 1
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return n if n >= 2 else None


def latest_equity_at(store: Store, trader: str, now: float) -> float | None:
    """The trader's own clock: its latest equity point (wall time live, bar time in a replay)."""
    return period.last_equity_at(store, trader, until=now)


def read_equity(store: Store, trader: str, since: float,
                until: float) -> tuple[np.ndarray, np.ndarray]:
    """Only the rows the window needs, as float arrays."""
    rows = period.equity_window(store, trader, since, until)
    if not rows:
        return np.empty(0), np.empty(0)
    arr = np.asarray(rows, dtype=float)
    return arr[:, 0], arr[:, 1]


def evaluate(cfg: Config, trader: TraderInfo, at: np.ndarray, eq: np.ndarray,
             now: float) -> Verdict:
    """The verdict for one trader from its equity points (pure)."""
    m = cfg.monitor
    window_s = m.window_hours * 3600.0
    step = sustain_step_s(m)
    k = math.ceil(m.emergency_sustain_h * 3600.0 / step - 1e-9) if m.emergency_sustain_h else 0
    ends = now - step * np.arange(k + 1)
    sharpes, ns = rolling_sharpe(at, eq, ends, window_s)
    live, n = float(sharpes[0]), int(ns[0])
    bt = trader.backtest_sharpe
    ppy = periods_per_year(bar_seconds_of(at))
    n_bt = trader.backtest_bars or m.backtest_bars
    if n < m.min_samples:
        state = f"INSUFFICIENT DATA ({n}/{m.min_samples})"
        return Verdict(trader.name, trader.mode, INSUFFICIENT, state, None, bt, n, 0.0,
                       f"{state}: no verdict yet")
    if bt is None:
        return Verdict(trader.name, trader.mode, NO_BACKTEST, "NO BACKTEST SHARPE", live, bt, n,
                       0.0, f"live Sharpe {live:.2f}; no backtest Sharpe to compare with")
    # One z per checkpoint (each window's own autocorrelation); none before min_samples.
    gaps = [sharpe_gap_z(float(s), int(k), bt, n_bt, ppy,
                         lrv_ratio(window_returns(at, eq, e, window_s)))
            if k >= m.min_samples else (0.0, math.inf)
            for s, k, e in zip(sharpes, ns, ends, strict=True)]
    zs = np.array([g[0] for g in gaps])
    z, se = gaps[0]
    crossed = (zs < -m.emergency_z) & (ns >= m.min_samples)
    held = int(np.argmin(crossed)) if not crossed.all() else len(crossed)
    emergency_hours = max(held - 1, 0) * step / 3600.0 if held else 0.0
    level = raw_level(z, m)
    text = (f"live Sharpe {live:.2f} vs backtest {bt:.2f} ({live - bt:+.2f}, z {z:+.2f}, "
            f"SE {se:.2f}) over {n} returns in {m.window_hours:g} h")
    if level == EMERGENCY:
        if held == len(crossed):
            text += f"; z below -{m.emergency_z:g}"
            if m.emergency_sustain_h:
                text += f" for {m.emergency_sustain_h:g} h"
        else:
            level = CRITICAL
            text += (f"; below the emergency line for {emergency_hours:.1f} of "
                     f"{m.emergency_sustain_h:g} h")
    return Verdict(trader.name, trader.mode, level, level, live, bt, n, emergency_hours, text,
                   z=z)


def should_alert(level: str, prev: AlertRow | None, now: float, cooldown_s: float) -> bool:
    if level not in NOTIFY_LEVEL:
        return False
    if prev is None:
        return level != OK
    if prev.level != level:
        return True
    return level != OK and now - prev.at >= cooldown_s


def auto_stop(store: Store, trader: TraderInfo, reason: str, halt_wait_s: float) -> int:
    """Halt flag first; once the trader reports HALTED (it cancelled its orders) or after
    halt_wait_s (it may not be running), the stop command for the supervisor."""
    with store.write():
        st.set_halt_requested(store, trader.name, True)
    proc = get_process(store, f"trader-{trader.name}")
    if proc is None or proc.state != "RUNNING":
        halt_wait_s = 0.0  # nobody there to halt: stop at once
    deadline = time.monotonic() + halt_wait_s
    while time.monotonic() < deadline:
        row = st.get_trader(store, trader.name)
        if row is None or row.trading_state == "HALTED":
            break
        time.sleep(0.1)
    return insert_command(store, "stop", f"trader-{trader.name}",
                          {"reason": reason, "trader": trader.name}, source="monitor")


def act(cfg: Config, store: Store, trader: TraderInfo, v: Verdict, prev: AlertRow | None,
        now: float) -> Verdict:
    stopped = False
    message = v.message
    if v.level == EMERGENCY and not trader.halt_requested and trader.trading_state != "HALTED":
        auto_stop(store, trader, f"monitor EMERGENCY: {v.message}", cfg.monitor.halt_wait_s)
        stopped = True
        message += "; auto-stop issued (trader halted and stopped)"
        log.warning("%s: EMERGENCY, auto-stop issued", trader.name)
    alerted = should_alert(v.level, prev, now, cfg.monitor.cooldown_s) or stopped
    if alerted:
        insert_alert(store, trader.name, v.level, message, now, v.live_sharpe, v.backtest_sharpe)
        was = prev.level if prev else "none"
        title = (f"{trader.name}: {v.level}" if was != v.level
                 else f"{trader.name}: still {v.level}")
        body = f"{message}\nlevel {was} -> {v.level} ({trader.mode})"
        emit(store, cfg, "alert", title, body, NOTIFY_LEVEL[v.level], trader=trader.name,
             model=trader.model, trial=trader.trial, study=trader.study)
    if alerted or stopped:
        return replace(v, message=message, alerted=alerted, stopped=stopped)
    return v


def run_cycle(cfg: Config, store: Store, now: float) -> list[Verdict]:
    """Evaluate every paper/live trader once and act on the verdicts."""
    m = cfg.monitor
    traders = load_traders(store)
    prevs = last_alerts(store, [t.name for t in traders])
    span = m.window_hours * 3600.0 + m.emergency_sustain_h * 3600.0
    out = []
    for t in traders:
        end = latest_equity_at(store, t.name, now)
        if end is None:
            at, eq = np.empty(0), np.empty(0)
            end = now
        else:
            at, eq = read_equity(store, t.name, end - span, end)
        v = evaluate(cfg, t, at, eq, end)
        out.append(act(cfg, store, t, v, prevs.get(t.name), now))
    return out
