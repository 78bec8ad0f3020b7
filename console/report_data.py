"""The report screen's data: engine.reports' report of one trader, as rows and chart specs.

Runs in a worker thread with its own Store. engine.reports (numpy) is imported here, inside
the function, so the console only pays for it when a report is opened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from store.db import Store
from widgets.plot_chart import ChartSpec, Line

PERIODS = ("day", "week", "month")
MAX_POINTS = 400  # a terminal chart cannot show more; a month of 5m bars is 8640


@dataclass(frozen=True)
class ReportData:
    trader: str | None
    period: str
    rows: tuple[tuple[str, str], ...] = ()
    charts: tuple[ChartSpec, ...] = ()
    error: str | None = None


def load_report(path: str | Path, period: str, trader: str | None,
                busy_timeout_s: float = 10.0) -> ReportData:
    """One trader's report for the period, or the operator's message of why there is none."""
    from engine.names import UnknownName
    from engine.reports.report import ReportError, build_reports, rows_of

    try:
        with Store(path, create=False, check=False, busy_timeout_s=busy_timeout_s) as st:
            rep = build_reports(st, period, trader)[0]
    except (ReportError, UnknownName) as e:
        return ReportData(trader, period, error=str(e))
    except Exception as e:  # a busy or broken store: one line, never a crash
        return ReportData(trader, period, error=f"report failed: {type(e).__name__}: {e}")
    return ReportData(rep.trader, period, tuple(rows_of(rep)), charts_of(rep))


def _thin(n: int) -> list[int]:
    """At most MAX_POINTS indices spread over n, keeping the last."""
    if n <= MAX_POINTS:
        return list(range(n))
    step = n / MAX_POINTS
    idx = sorted({min(n - 1, int(i * step)) for i in range(MAX_POINTS)} | {n - 1})
    return idx


def _line(label: str, xs: list[float], ys: Any) -> Line:
    pts = [(x, float(y)) for x, y in zip(xs, ys, strict=True) if math.isfinite(float(y))]
    return Line(label, tuple(p[0] for p in pts), tuple(p[1] for p in pts))


def charts_of(rep: Any) -> tuple[ChartSpec, ...]:
    """Equity vs HODL vs equal weight, drawdown, daily PnL and the daily pass rate."""

    from engine.metrics import drawdown
    from engine.reports.report import iso

    s = rep.series
    idx = _thin(int(s.at.size))
    xs = [(float(s.at[i]) - rep.start) / 86_400.0 for i in idx]
    xlabel = f"days since {iso(rep.start)}"
    equity = ChartSpec(f"{rep.trader}: equity vs HODL vs equal weight", tuple(
        ln for ln in (_line("equity", xs, s.equity[idx]), _line("HODL", xs, s.hodl[idx]),
                      _line("equal weight", xs, s.equal_weight[idx])) if ln.xs), xlabel=xlabel)
    dd = drawdown(s.equity) * 100.0
    draw = ChartSpec("drawdown %", (_line("drawdown %", xs, dd[idx]),) if idx else (),
                     xlabel=xlabel)
    # Daily PnL: the change of each UTC day's last equity (the first day's from the first
    # point), as the HTML report has it.
    pnl = [(iso(day)[5:10], v) for day, v in rep.daily_pnl]  # MM-DD
    daily = ChartSpec("daily PnL", bars=tuple(pnl), bar_label="PnL")
    rate = ChartSpec("conviction pass rate %", bars=tuple(
        (d[5:10], v * 100.0) for d, v in rep.daily_pass_rate), bar_label="pass rate %")
    return equity, draw, daily, rate
