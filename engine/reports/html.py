"""One self-contained HTML report (plotly, with plotly.js inlined: no network needed)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.files import write_atomic
from engine.metrics import drawdown
from engine.reports.report import TraderReport, rows_of

if TYPE_CHECKING:
    import plotly.graph_objects as go

CHARTS = ("Equity vs HODL and equal weight", "Drawdown", "Daily PnL", "Conviction pass rate")


def _figures(rep: TraderReport) -> list[go.Figure]:
    import pandas as pd
    import plotly.graph_objects as go

    s = rep.series
    when = pd.to_datetime(s.at, unit="s", utc=True)
    eq = go.Figure(layout={"title": f"{CHARTS[0]} — {rep.trader}"})
    eq.add_scatter(x=when, y=s.equity, name="equity")
    if np.isfinite(s.hodl).any():
        eq.add_scatter(x=when, y=s.hodl, name="HODL")
    if np.isfinite(s.equal_weight).any():
        eq.add_scatter(x=when, y=s.equal_weight, name="equal weight")
    dd = go.Figure(layout={"title": f"{CHARTS[1]} — {rep.trader}"})
    dd.add_scatter(x=when, y=drawdown(s.equity) * 100, fill="tozeroy", name="drawdown %")
    pnl = go.Figure(layout={"title": f"{CHARTS[2]} — {rep.trader}"})
    pnl.add_bar(x=pd.to_datetime([d for d, _ in rep.daily_pnl], unit="s", utc=True),
                y=[v for _, v in rep.daily_pnl], name="PnL")
    pr = go.Figure(layout={"title": f"{CHARTS[3]} — {rep.trader}"})
    pr.add_scatter(x=[d for d, _ in rep.daily_pass_rate],
                   y=[v * 100 for _, v in rep.daily_pass_rate], mode="lines+markers",
                   name="pass rate %")
    return [eq, dd, pnl, pr]


def write_html(reports: list[TraderReport], path: str | Path, period: str) -> Path:
    parts = ["<!doctype html><html><head><meta charset='utf-8'>",
             f"<title>Cappuccino {html.escape(period)} report</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td{padding:2px 12px;border-bottom:1px solid #ddd}</style></head><body>",
             f"<h1>Cappuccino {html.escape(period)} report</h1>"]
    first = True
    for rep in reports:
        parts.append(f"<h2>{html.escape(rep.trader)}</h2><table>")
        parts += [f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                  for k, v in rows_of(rep)]
        parts.append("</table>")
        for fig in _figures(rep):
            # Inline plotly.js once, so the file opens offline.
            parts.append(fig.to_html(full_html=False, include_plotlyjs=first))
            first = False
    parts.append("</body></html>")
    out = Path(path)
    write_atomic(out, "\n".join(parts).encode())
    return out
