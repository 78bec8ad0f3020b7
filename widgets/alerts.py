"""Alerts pane: each trader's level, live against backtest Sharpe and gate status; history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from textual.app import ComposeResult
from textual.containers import Vertical

from widgets.fmt import DASH, clip, matches, num, stamp
from widgets.inputs import AlertLike, PromotionLike
from widgets.line_table import LineTable
from widgets.table import sync_table

DAY = 86_400.0


def gate_status(p: PromotionLike | None) -> str:
    if p is None:
        return DASH
    failed = [g.name for g in p.gates if not g.passed]
    verdict = "forced" if p.forced else ("passed" if p.passed else "refused")
    return f"{p.kind} {verdict}" + (f" ({', '.join(failed)})" if failed else "")


class AlertsPane(Vertical):
    DEFAULT_CSS = """
    AlertsPane { height: 1fr; }
    AlertsPane #alerts-levels { height: auto; max-height: 8; }
    AlertsPane #alerts-history { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield LineTable("trader", "level", "live Sharpe", "backtest", "gates", id="alerts-levels")
        yield LineTable("at", "clock", "trader", "level", "live", "bt", "message",
                        id="alerts-history")

    def update_data(self, traders: Sequence[str], latest: Mapping[str, AlertLike],
                    gates: Mapping[str, PromotionLike], history: Sequence[AlertLike],
                    filter_text: str = "", clocks: Mapping[str, float] | None = None) -> None:
        """`clocks`: each replaying trader's own clock; its alerts up to a day past that
        clock are on its clock ("replay"), later ones (the monitor's) on the wall clock."""
        clocks = clocks or {}
        rows = []
        for name in traders:
            a = latest.get(name)
            cells: tuple[str, ...] = (name, a.level if a else "OK", num(a.live_sharpe if a else None),
                     num(a.backtest_sharpe if a else None), clip(gate_status(gates.get(name)), 40))
            if matches(filter_text, *cells):
                rows.append((name, cells))
        sync_table(self.query_one("#alerts-levels", LineTable), rows)
        h_rows, details = [], {}
        for a in history:
            clock = clocks.get(a.trader) if a.trader else None
            which = "replay" if clock is not None and a.at <= clock + DAY else "wall"
            cells = (stamp(a.at), which, a.trader or DASH, a.level, num(a.live_sharpe),
                     num(a.backtest_sharpe), clip(a.message, 60))
            if matches(filter_text, *cells, a.message):
                h_rows.append((str(a.id), cells))
                details[str(a.id)] = (f"{stamp(a.at)} ({which} clock) {a.level} "
                                      f"{a.trader or DASH}\n"
                                      f"{a.message}")
        sync_table(self.query_one("#alerts-history", LineTable), h_rows, details)
