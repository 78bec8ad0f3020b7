"""The conviction replay's output: the text report and the JSON document."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from engine.reports.replay import (
    DAYS_PER_MONTH,
    TARGET_PER_MONTH,
    HintRow,
    ReplayResult,
)
from engine.reports.replay_pnl import render as render_factor_pnl
from engine.reports.walk import iso as _iso


def tuned_text(r: ReplayResult) -> str:
    """The --tune outcome: the replayed probe closest to the target range."""
    lo, hi = TARGET_PER_MONTH
    best = min(r.tuned, key=lambda h: 0.0 if lo <= h.trades_per_month <= hi
               else min(abs(h.trades_per_month - lo), abs(h.trades_per_month - hi)))
    verdict = "in the target" if lo <= best.trades_per_month <= hi else "closest to the target"
    return (f"min_score {best.min_score:g} gives {best.trades_per_month:.0f} trades/month "
            f"(replayed, {verdict} {lo:.0f}-{hi:.0f}; {len(r.tuned) - 1} extra runs)")


def hint_text(r: ReplayResult) -> str:
    lo, hi = TARGET_PER_MONTH
    rng = r.hint_range()
    now = r.per_month(r.passed)
    head = f"target {lo:.0f}-{hi:.0f} trades/month (now {now:.0f} at min_score {r.min_score:g})"
    if rng is not None:
        a, b = rng
        where = f"min_score {a:.2f}" if a == b else f"min_score {a:.2f}-{b:.2f}"
        return f"{head}: {where} lands there (estimate from this run's scores; re-run to confirm)"
    mid = (lo + hi) / 2
    rows = sorted(r.hint, key=lambda h: h.min_score)
    for h0, h1 in zip(rows, rows[1:], strict=False):
        if (h0.trades_per_month - mid) * (h1.trades_per_month - mid) < 0:
            return (f"{head}: between min_score {h0.min_score:.2f} "
                    f"(~{h0.trades_per_month:.0f}) and {h1.min_score:.2f} "
                    f"(~{h1.trades_per_month:.0f}) (estimate from this run's scores; re-run "
                    "to confirm)")
    best = min(rows, key=lambda h: abs(h.trades_per_month - mid))
    return (f"{head}: no min_score reaches it on this run's scores; closest {best.min_score:.2f}"
            f" gives ~{best.trades_per_month:.0f}/month (estimate)")


def to_dict(r: ReplayResult) -> dict[str, Any]:
    rng = r.hint_range()
    shown = _hint_rows(r)
    return {
        "model": r.model, "members": r.members, "tickers": list(r.tickers),
        "timeframe": r.timeframe,
        "window": {"start": _iso(r.start), "end": _iso(r.end), "bars": r.bars,
                   "days": round(r.days, 4)},
        "min_score": r.min_score,
        "decisions": {"raw": r.decisions, "passed": r.passed, "blocked": r.blocked,
                      "pass_rate": r.pass_rate, "exits_released": r.exits_released,
                      "avg_score": r.avg_score},
        "trades": {"raw": {"per_day": r.per_day(r.decisions),
                           "per_month": r.per_month(r.decisions)},
                   "filtered": {"per_day": r.per_day(r.passed),
                                "per_month": r.per_month(r.passed)}},
        "blocked_by": dict(r.blocked_by),
        "factor_pnl": {"horizon_bars": r.horizon, "cost_per_side": r.fee_rate,
                       **{k: v.to_dict() for k, v in r.factor_pnl.items()}},
        "pnl": {"fee_rate": r.fee_rate, "initial_cash": r.initial_cash,
                "raw": asdict(r.raw), "filtered": asdict(r.filtered)},
        "hint": {"target_per_month": list(TARGET_PER_MONTH), "estimate": True,
                 "min_score_range": list(rng) if rng else None, "text": hint_text(r),
                 "grid": [asdict(h) for h in shown]},
        "tune": None if not r.tuned else {
            "probes": [asdict(h) for h in r.tuned], "text": tuned_text(r)},
    }


def _hint_rows(r: ReplayResult) -> list[HintRow]:
    """A few thresholds worth showing: every 0.1, the run's own, and the target range's ends."""
    rng = r.hint_range() or ()
    keep = {round(0.1 * i, 2) for i in range(11)} | {r.min_score, *rng}
    return [h for h in r.hint if h.min_score in keep]


def render_text(r: ReplayResult) -> str:
    def pct(x: float) -> str:
        return f"{100 * x:+.2f}%"

    lines = [
        f"conviction replay  {r.model}  ({r.members} model{'s' if r.members > 1 else ''})",
        f"  {','.join(r.tickers)} {r.timeframe}",
        f"  {_iso(r.start)} .. {_iso(r.end)}  ({r.bars} bars, {r.days:.1f} days)  "
        f"min_score {r.min_score:g}",
        "",
        "  decisions (the filtered run, as the live trader records them)",
        f"  {'':<22}{'non-HOLD':>12}{'passed':>12}",
        f"  {'count':<22}{r.decisions:>12}{r.passed:>12}",
        f"  {'per day':<22}{r.per_day(r.decisions):>12.1f}{r.per_day(r.passed):>12.1f}",
        f"  {'per month (30d)':<22}{r.per_month(r.decisions):>12.0f}"
        f"{r.per_month(r.passed):>12.0f}",
        f"  pass rate {100 * r.pass_rate:.1f}%, avg score {r.avg_score:.2f}, exits released "
        f"{r.exits_released}",
        f"  blocked {r.blocked}, by the factor that cost most: "
        + ", ".join(f"{k} {v}" for k, v in r.blocked_by.items()),
        "",
        *render_factor_pnl(r.factor_pnl, r.horizon, r.fee_rate),
        "",
        "  portfolios (raw executes every decision, filtered only the passed ones)",
        f"  {'':<22}{'raw':>12}{'filtered':>12}",
        f"  {'orders executed':<22}{r.raw.orders:>12}{r.filtered.orders:>12}",
        f"  {'orders / month':<22}{r.raw.orders_per_day * DAYS_PER_MONTH:>12.0f}"
        f"{r.filtered.orders_per_day * DAYS_PER_MONTH:>12.0f}",
        f"  {'return':<22}{pct(r.raw.total_return):>12}{pct(r.filtered.total_return):>12}",
        f"  {'fees paid':<22}{r.raw.fees:>12.2f}{r.filtered.fees:>12.2f}",
        f"  {'sharpe':<22}{r.raw.sharpe:>12.2f}{r.filtered.sharpe:>12.2f}",
        f"  {'max drawdown':<22}{100 * r.raw.max_drawdown:>11.2f}%"
        f"{100 * r.filtered.max_drawdown:>11.2f}%",
        f"  costs {100 * r.fee_rate:.3g}% a side (fee + half spread) on {r.initial_cash:g} "
        "starting cash; the model's own execution delay, no risk engine",
        "  min_score -> trades/month (estimate):",
        "    " + "  ".join(f"{h.min_score:.2f}:{h.trades_per_month:.0f}" for h in _hint_rows(r)),
        f"  hint: {hint_text(r)}",
    ]
    if r.tuned:
        lines += ["  tune: " + "  ".join(f"{h.min_score:g}:{h.trades_per_month:.0f}"
                                         for h in r.tuned),
                  f"  tuned: {tuned_text(r)}"]
    return "\n".join(lines) + "\n"
