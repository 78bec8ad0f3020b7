"""The read-only answers (/status /profit /daily /balance), from the same readers as the CLI.

/status is `cappuccino status`'s document (engine.cli.status.collect); /daily is the
report's daily PnL (engine.reports.report); money is engine.money's cents everywhere.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.config import Config
from engine.money import money, price, quantity
from store.db import Store

DAYS_SHOWN = 7
BAD_STATES = ("FATAL", "BACKOFF")


def _dec(text: Any) -> Decimal | None:
    try:
        return Decimal(str(text)) if text is not None else None
    except InvalidOperation:
        return None


def status_text(cfg: Config, store: Store) -> str:
    from engine.cli.status import collect, fmt_age

    doc = collect(cfg, store)
    sup = doc["supervisor"]
    lines = ["supervisor: " + ("running" if sup["alive"] else "NOT running")
             + (f" (pid {sup['pid']})" if sup["pid"] else "")]
    procs = doc["processes"]
    bad = [p for p in procs if p["state"] in BAD_STATES]
    lines.append(f"processes: {len(procs)}"
                 + (", trouble: " + ", ".join(f"{p['name']} {p['state']}" for p in bad[:5])
                    if bad else ""))
    for t in doc["traders"]:
        reason = f" ({t['state_reason']})" if t.get("state_reason") else ""
        lines.append(f"trader {t['name']} [{t['mode']}/{t['broker']}]: "
                     f"{t['trading_state']}{reason}, equity {t['equity'] or '-'}")
    if not doc["traders"]:
        lines.append("no traders")
    serious = [a for a in doc["alerts"] if a["level"] in ("CRITICAL", "EMERGENCY")]
    if serious:
        a = serious[0]
        age = fmt_age(time.time() - a["at"]) if a["at"] else "-"
        lines.append(f"alerts: {len(serious)} critical or worse among the last "
                     f"{len(doc['alerts'])}; latest {age} ago: {a['message'][:200]}")
    return "\n".join(lines)


def _traders(store: Store) -> list[Any]:
    from store.trading import list_traders

    return list_traders(store)


def profit_text(store: Store) -> str:
    rows = _traders(store)
    if not rows:
        return "no traders"
    lines = []
    total = Decimal(0)
    for t in rows:
        cap, eq = _dec(t.capital), _dec(t.equity)
        if cap is None or eq is None:
            lines.append(f"{t.name}: no equity yet")
            continue
        pnl = eq - cap
        total += pnl
        pct = f" ({pnl / cap * 100:+.2f}%)" if cap else ""
        lines.append(f"{t.name} [{t.mode}]: PnL {money(pnl)}{pct} "
                     f"on capital {money(cap)}, equity {money(eq)}")
    lines.append(f"total PnL: {money(total)}")
    return "\n".join(lines)


def daily_text(store: Store) -> str:
    from engine.reports.report import ReportError, build_reports

    try:
        reports = build_reports(store, "week")
    except ReportError as e:
        return f"no daily figures: {e}"
    lines = []
    for rep in reports:
        days = rep.daily_pnl[-DAYS_SHOWN:]
        lines.append(f"{rep.trader} [{rep.mode}], last {len(days)} day(s):")
        for day, pnl in days:
            stamp = datetime.fromtimestamp(day, UTC).strftime("%Y-%m-%d")
            lines.append(f"  {stamp}  {money(pnl)}")
        if not days:
            lines.append("  no full day recorded yet")
    return "\n".join(lines)


def balance_text(store: Store) -> str:
    rows = _traders(store)
    if not rows:
        return "no traders"
    from engine.money import increment_of
    from store.increments import base_increments
    from store.trading import positions

    incs = base_increments(store)
    lines = []
    for t in rows:
        lines.append(f"{t.name} [{t.mode}]: equity {money(t.equity) or '-'}, "
                     f"cash {money(t.cash) or '-'}")
        for p in positions(store, t.name):
            lines.append(f"  {p.ticker}: {quantity(p.qty, increment_of(incs, t.name, p.ticker))} at {price(p.avg_price)}, "
                         f"unrealized {money(p.unrealized_pnl)}")
    return "\n".join(lines)
