"""Execution pane: maker ratio against the 70% target, the fee tier, and fees paid."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from widgets.fmt import DASH, bar, matches, money, pct
from widgets.inputs import ExecutionLike
from widgets.line_table import LineTable
from widgets.table import sync_table


def _tier(tier: dict[str, object] | None) -> str:
    if not tier:
        return DASH
    name = tier.get("pricing_tier") or "?"
    maker, taker = tier.get("maker_fee_rate"), tier.get("taker_fee_rate")
    try:
        rates = f" m {float(maker) * 100:.2f}% t {float(taker) * 100:.2f}%"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        rates = ""
    return f"{name}{rates}"


class ExecutionPane(Vertical):
    DEFAULT_CSS = """
    ExecutionPane { height: 1fr; }
    ExecutionPane #execution-note { height: auto; }
    ExecutionPane #execution-table { height: 1fr; }
    """

    def __init__(self, target: float = 0.70, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.target = target
        self._note = ""

    def compose(self) -> ComposeResult:
        yield Static(f"Maker ratio target {self.target:.0%} (post-only limit orders)",
                     id="execution-note")
        yield LineTable("trader", "fills", "maker", "vs target", "fees paid", "fee tier",
                        id="execution-table")

    def update_data(self, stats: Sequence[ExecutionLike], window_label: str,
                    filter_text: str = "") -> None:
        note = f"Maker ratio target {self.target:.0%}, over the {window_label}"
        if note != self._note:  # an unchanged update would still cost a layout
            self._note = note
            self.query_one("#execution-note", Static).update(note)
        rows = []
        for s in stats:
            ok = s.maker_ratio is not None and s.maker_ratio >= self.target
            mark = DASH if s.maker_ratio is None else ("ok" if ok else "below")
            cells = (s.trader, str(s.fills), pct(s.maker_ratio),
                     f"{bar(s.maker_ratio, 10)} {mark}", money(s.fees_paid), _tier(s.fee_tier))
            if matches(filter_text, *cells):
                rows.append((s.trader, cells))
        sync_table(self.query_one("#execution-table", LineTable), rows)
