"""Conviction pane: pass rate, average score, trades per day, projected trades per month, and
the latest decisions the filter blocked, with their factor scores."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Vertical

from widgets.fmt import clip, clock, matches, num, pct
from widgets.inputs import ConvictionLike, DecisionLike
from widgets.line_table import LineTable
from widgets.table import sync_table


class ConvictionPane(Vertical):
    DEFAULT_CSS = """
    ConvictionPane { height: 1fr; }
    ConvictionPane #conviction-stats { height: auto; max-height: 8; }
    ConvictionPane #conviction-blocked { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield LineTable("trader", "decisions", "passed", "pass rate", "avg score", "trades/day",
                        "proj./month", id="conviction-stats")
        yield LineTable("time", "trader", "ticker", "side", "score", "size", "mom", "agr", "vol",
                        "ctx", "reason", id="conviction-blocked")

    def update_data(self, stats: Sequence[ConvictionLike], blocked: Sequence[DecisionLike],
                    filter_text: str = "") -> None:
        rows = []
        for s in stats:
            cells: tuple[str, ...] = (s.trader, str(s.decisions), str(s.passed), pct(s.pass_rate, 1),
                     num(s.avg_score), num(s.trades_per_day, 1), num(s.projected_per_month, 0))
            if matches(filter_text, *cells):
                rows.append((s.trader, cells))
        sync_table(self.query_one("#conviction-stats", LineTable), rows)
        b_rows = []
        for d in blocked:
            cells = (clock(d.at), d.trader, d.ticker, d.side, num(d.score), num(d.f_size),
                     num(d.f_momentum), num(d.f_agreement), num(d.f_volatility),
                     num(d.f_context), clip(d.reason, 30))
            if matches(filter_text, *cells):
                b_rows.append((str(d.id), cells))
        sync_table(self.query_one("#conviction-blocked", LineTable), b_rows)
