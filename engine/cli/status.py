"""`cappuccino status [--json]`: the supervisor, processes, latest study, traders and alerts.

`--json` prints ONE JSON object. Money is Decimal text (strings), times are UTC unix
seconds, ages and uptimes are seconds (null when unknown). Example:

    {
      "supervisor": {"alive": true, "pid": 4242},
      "processes": [
        {"name": "trader-btc", "kind": "trader", "pid": 4300, "state": "RUNNING",
         "restarts": 1, "uptime_s": 3605.2, "heartbeat_age_s": 1.4, "last_error": null},
        {"name": "study-default", "kind": "study", "pid": null, "state": "FATAL",
         "restarts": 5, "uptime_s": null, "heartbeat_age_s": null,
         "last_error": "exited with code 1: ValueError: bad timeframe"}
      ],
      "study": {"name": "default",
                "trials": {"RUNNING": 1, "COMPLETE": 12, "FAILED": 1, "PRUNED": 4,
                           "RETRIED": 2},
                "best_value": 0.42, "best_trial": 7, "pbo": 0.18,
                "trials_attempted": 19, "pbo_blocks": 16,
                "best": {"trial": 7, "objective": 0.42, "dsr": 0.31,
                         "holdout_active_sharpe": 1.2, "holdout_ci": [-3.1, 5.4],
                         "baselines": {"cash": 0.9, "hodl": -0.2, "equal_weight": 0.0,
                                       "static_tilt": 0.5}, ...},
                "gate": {"paper": {"passed": false, "reasons": ["deflated Sharpe ratio:
                         0.31 (needs >= 0.95) FAILED", ...]}},
                "dsr_trials": 31, "dsr_pool": {"n": 31, "own": 19, "others": [...], ...}},
      "traders": [
        {"name": "btc", "broker": "sim", "mode": "paper", "equity": "1012.50",
         "positions": [{"ticker": "BTC-USD", "qty": "0.01", "qty_increment": "0.00000001",
                        "avg_price": "64000.00", "unrealized_pnl": "12.50"}],
         "trading_state": "ACTIVE"}
      ],
      "alerts": [{"level": "WARNING", "trader": "btc",
                  "message": "live Sharpe 0.3 below backtest 0.9", "at": 1764060000.0}]
    }

`study` is the most recently updated study (null when there is none). Its `trials`
count each trial once, by the state of its latest attempt (an attempt waiting to be
retried counts as RUNNING); `RETRIED` counts trials that needed more than one attempt.
The study's evidence fields (`trials_attempted`, `pbo_blocks`, `best`, `gate`, `dsr_trials`:
the DSR's N over every trial on the same data, `dsr_pool`: where N comes from) are what
the study driver last computed (`cappuccino study show` computes them afresh; null until a
trial ended). `alerts` are the 20 most recent, newest first. A store that does not exist yet (a fresh
install, no supervisor ever ran) answers with the same schema: `supervisor.alive` false,
empty lists, `study` null, exit 0; a store that exists but cannot be read is exit 1.
Money (equity, capital, cash, unrealized PnL) is rounded to the cent, prices to the cent
(6 significant digits below 1), quantities down to the product's base increment as the
trader's broker reported it at the trader's start (`qty_increment`; null when unknown, and
then 8 decimals) (engine.money): still Decimal text.
"""

from __future__ import annotations

import argparse
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.cli import Subparsers
from engine.config import Config
from engine.money import increment_of, money, price, quantity
from engine.text import printable_lines
from store import trading, views
from store.increments import base_increments

TRIAL_STATES = ("RUNNING", "COMPLETE", "FAILED", "PRUNED")
ALERTS_SHOWN = 20
LIVE_STATES = ("STARTING", "RUNNING", "STOPPING")


def register(sub: Subparsers) -> None:
    p = sub.add_parser("status", help="supervisor, processes, study, traders and alerts")
    p.add_argument("--json", action="store_true", help="print one JSON object (see README)")
    p.set_defaults(func=run)


def process_view(row: Any, now: float) -> dict[str, Any]:
    live = row.state in LIVE_STATES and row.pid is not None
    return {
        "name": row.name,
        "kind": row.kind,
        "pid": row.pid if live else None,
        "state": row.state,
        "restarts": row.restarts,
        "uptime_s": round(now - row.started_at, 1) if live and row.started_at else None,
        "heartbeat_age_s": (round(now - row.heartbeat_at, 1)
                            if live and row.heartbeat_at else None),
        "last_error": row.last_error,
    }


def study_view(store: Any) -> dict[str, Any] | None:
    from store.registry import get_study_evidence

    study = views.study(store)
    if study is None:
        return None
    c = views.trial_counts(store, study.name)
    counts = {"RUNNING": c.running + c.retrying, "COMPLETE": c.complete, "FAILED": c.failed,
              "PRUNED": c.pruned}
    ev = get_study_evidence(store, study.name) or {}
    return {"name": study.name, "trials": {**counts, "RETRIED": c.retried},
            "best_value": study.best_value, "best_trial": study.best_trial,
            "pbo": study.pbo,
            # the study driver's latest evidence (engine.study.evidence; `study show`)
            "trials_attempted": ev.get("trials_attempted", c.total),
            "pbo_blocks": ev.get("pbo_blocks"), "best": ev.get("best"),
            "gate": ev.get("gate"),
            # N of the deflated Sharpe ratio: every trial on the same data (engine.study.pool)
            "dsr_trials": ev.get("dsr_trials"), "dsr_pool": ev.get("dsr_pool")}


def _position(p: Any, inc: str | None) -> dict[str, Any]:
    return {"ticker": p.ticker, "qty": quantity(p.qty, inc), "qty_increment": inc,
            "avg_price": price(p.avg_price), "unrealized_pnl": money(p.unrealized_pnl)}


def _held(qty: object) -> bool:
    """A position the trader holds: the table keeps a flat ticker's row (its last price)."""
    try:
        return Decimal(str(qty)) != 0
    except ArithmeticError:  # not a number: show it rather than hide it
        return True


def traders_view(store: Any) -> list[dict[str, Any]]:
    incs = base_increments(store)
    return [{"name": t.name, "broker": t.broker, "mode": t.mode,
             "equity": money(t.equity),
             "positions": [_position(p, increment_of(incs, t.name, p.ticker))
                           for p in trading.positions(store, t.name) if _held(p.qty)],
             "trading_state": t.trading_state,
             "capital": money(t.capital), "cash": money(t.cash),
             "state_reason": t.state_reason, "unattributed": _unattributed(t.unattributed)}
            for t in trading.list_traders(store)]


def _unattributed(raw: str | None) -> list[str]:
    """What the trader saw on its account that no trader placed (never adopted)."""
    try:
        out = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [str(x) for x in out] if isinstance(out, list) else []


def alerts_view(store: Any) -> list[dict[str, Any]]:
    return [{"level": a.level, "trader": a.trader, "message": a.message, "at": a.at}
            for a in views.alerts(store, ALERTS_SHOWN)]


def collect(cfg: Config, store: Any) -> dict[str, Any]:
    from engine.supervisor.client import supervisor_status
    from store.processes import list_processes

    alive, pid = supervisor_status(cfg, store)
    now = time.time()
    return {
        "supervisor": {"alive": alive, "pid": pid},
        "processes": [process_view(r, now) for r in list_processes(store)],
        "study": study_view(store),
        "traders": traders_view(store),
        "alerts": alerts_view(store),
    }


def empty_doc(cfg: Config) -> dict[str, Any]:
    """What runs when there is no store yet: nothing (the same schema as `collect`)."""
    from engine.supervisor import lock

    holder = lock.holder(lock.lock_path(cfg.store.path))
    return {"supervisor": {"alive": False, "pid": holder or None}, "processes": [],
            "study": None, "traders": [], "alerts": []}


def store_missing(cfg: Config) -> bool:
    return not Path(cfg.store.path).exists()


def open_existing(cfg: Config) -> Any:
    from store.db import Store

    # A read must not create a store nor pay a quick_check on every call.
    return Store(cfg.store.path, create=False, busy_timeout_s=cfg.store.busy_timeout_s,
                 check=False)


def fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def process_table(doc: dict[str, Any]) -> list[str]:
    sup = doc["supervisor"]
    lines = [f"supervisor: {'running' if sup['alive'] else 'NOT running'}"
             + (f" (pid {sup['pid']})" if sup["pid"] else "")]
    if not doc["processes"]:
        return [*lines, "no processes"]
    lines.append(f"{'NAME':24} {'KIND':9} {'STATE':9} {'PID':>7} {'RESTARTS':>8} "
                 f"{'UPTIME':>8} {'HB':>6}  LAST ERROR")
    for p in doc["processes"]:
        lines.append(f"{p['name'][:24]:24} {p['kind'][:9]:9} {p['state']:9} "
                     f"{p['pid'] or '-':>7} {p['restarts']:>8} {fmt_age(p['uptime_s']):>8} "
                     f"{fmt_age(p['heartbeat_age_s']):>6}  {(p['last_error'] or '')[:60]}")
    return lines


def run(args: argparse.Namespace, cfg: Config) -> int:
    if store_missing(cfg):
        doc = empty_doc(cfg)
    else:
        store = open_existing(cfg)
        try:
            doc = collect(cfg, store)
        finally:
            store.close()
    if args.json:
        print(json.dumps(doc, sort_keys=False))
        return 0
    lines = process_table(doc)
    if store_missing(cfg):
        lines.append(f"store {cfg.store.path} does not exist yet: nothing runs")
    st = doc["study"]
    if st:
        counts = " ".join(f"{k.lower()} {v}" for k, v in st["trials"].items())
        best = ("-" if st["best_value"] is None
                else f"{st['best_value']:.4g} (trial #{st['best_trial']})")
        lines += ["", f"study {st['name']}: {counts}; best {best}"
                  + (f"; PBO {st['pbo']:.2f}" if st["pbo"] is not None else "")]
        b, gate = st.get("best"), (st.get("gate") or {}).get("paper")
        if b and b.get("dsr") is not None:
            lines.append(f"  trial #{b['trial']}: DSR {b['dsr']:.2f} over "
                         f"{st['trials_attempted']} trials; paper gate "
                         f"{'passes' if gate and gate['passed'] else 'refuses'} "
                         "(cappuccino study show)")
    for t in doc["traders"]:
        lines.append(f"trader {t['name']}: {t['broker']}/{t['mode']} {t['trading_state']} "
                     f"equity {t['equity'] or '-'} positions {len(t['positions'])}")
    if doc["alerts"]:
        lines += ["", "recent alerts:"]
        for a in doc["alerts"][:5]:
            when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(a["at"]))
            lines.append(f"  {when}Z {a['level']:9} {a['trader'] or '-':12} {a['message']}")
    print(printable_lines(lines))  # messages and errors are anyone's text: no escapes
    return 0
