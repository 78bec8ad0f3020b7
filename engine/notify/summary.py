"""The scheduled summary (daily or weekly, UTC): equity change, trades, pass rate, alerts.

Emitted as event "summary" once per period. The period's mark lives in kv and is set in the
same transaction that checks it, so two notifiers never both send it. The first run only
sets the mark: a fresh install does not open with a summary of nothing.
"""

from __future__ import annotations

import datetime as dt

from engine.config import Config
from engine.notify.events import emit
from store import kv, period
from store.db import Store
from store.trading import list_traders

MARK_KEY = "notify.summary.last_period"


def period_bounds(kind: str, at: float) -> tuple[float, float]:
    """The last *completed* period before `at`: (start, end) in unix seconds."""
    day = dt.datetime.fromtimestamp(at, dt.UTC).replace(hour=0, minute=0, second=0,
                                                         microsecond=0)
    if kind == "weekly":
        end = day - dt.timedelta(days=day.weekday())  # Monday 00:00 UTC
        start = end - dt.timedelta(days=7)
    else:
        end, start = day, day - dt.timedelta(days=1)
    return start.timestamp(), end.timestamp()


def _claim(store: Store, period: str) -> bool | None:
    """True: ours to send. False: already sent. None: first run (mark set, nothing sent)."""
    return kv.claim(store, MARK_KEY, period)


def summary_text(store: Store, start: float, end: float) -> str:
    lines = []
    traders = list_traders(store)
    for t in traders:
        eq = period.equity_in(store, t.name, start, end)
        fills = period.fill_count(store, t.name, start, end)
        dec = period.decision_totals(store, t.name, start, end, trades_only=False)
        change = "no equity data"
        if len(eq) >= 2 and eq[0][1]:
            first, last = float(eq[0][1]), float(eq[-1][1])
            change = f"equity {first:,.2f} -> {last:,.2f} ({(last / first - 1) * 100:+.2f}%)"
        n_dec = dec.decisions
        rate = f"{dec.passed / n_dec * 100:.0f}% of {n_dec}" if n_dec else "no decisions"
        lines.append(f"{t.name} ({t.mode}): {change}; {fills} fills; "
                     f"conviction pass rate {rate}")
    alerts = period.alert_counts(store, start, end)
    lines.append("alerts: " + (", ".join(f"{lv} {n}" for lv, n in alerts) or "none"))
    trials = period.attempts_ended(store, start, end)
    if trials:
        lines.append("trial attempts: " + ", ".join(f"{st} {n}" for st, n in trials))
    if not traders:
        lines.insert(0, "no traders")
    return "\n".join(lines)


def maybe_emit_summary(cfg: Config, store: Store, at: float) -> int | None:
    """Emit the summary of the last completed period if not yet done. Returns the outbox id."""
    kind = cfg.notify.summary
    if kind == "off" or cfg.notify.events.summary == "off":
        return None
    start, end = period_bounds(kind, at)
    period = f"{kind}:{dt.datetime.fromtimestamp(start, dt.UTC):%Y-%m-%d}"
    if not _claim(store, period):
        return None
    day = dt.datetime.fromtimestamp(start, dt.UTC)
    title = f"Cappuccino {kind} summary ({day:%Y-%m-%d})"
    return emit(store, cfg, "summary", title, summary_text(store, start, end), "info")
