"""Positions pane: each trader's state and equity, its holdings, and its equity curve."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message

from widgets.equity_chart import EquityChart
from widgets.fmt import DASH, clip, money, num, qty
from widgets.inputs import PointLike, PositionLike, TraderLike
from widgets.line_table import LineTable
from widgets.table import selected_key, sync_table


class PositionsPane(Vertical):
    DEFAULT_CSS = """
    PositionsPane { height: 1fr; }
    PositionsPane #traders-table { height: auto; max-height: 6; }
    PositionsPane #positions-table { height: auto; max-height: 6; }
    """

    class TraderSelected(Message):
        def __init__(self, name: str | None) -> None:
            super().__init__()
            self.name = name

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._equity: Mapping[str, Sequence[PointLike]] = {}

    def compose(self) -> ComposeResult:
        yield LineTable("trader", "broker", "mode", "state", "equity", "capital", "cash",
                        "bt Sharpe", id="traders-table")
        yield LineTable("trader", "ticker", "qty", "avg price", "last", "unrealised PnL",
                        id="positions-table")
        yield EquityChart(id="equity-chart")

    def update_data(self, traders: Sequence[TraderLike], positions: Sequence[PositionLike],
                    equity: Mapping[str, Sequence[PointLike]], filter_text: str = "") -> None:
        from widgets.fmt import matches

        self._equity = equity
        t_rows, details = [], {}
        for t in traders:
            state = t.trading_state + (f" ({t.state_reason})" if t.state_reason else "")
            cells: tuple[str, ...] = (t.name, t.broker, t.mode, clip(state, 24), money(t.equity),
                     money(t.capital), money(t.cash), num(t.backtest_sharpe))
            if matches(filter_text, *cells, state):
                t_rows.append((t.name, cells))
                details[t.name] = (f"{t.name} ({t.broker}, {t.mode})\nstate: {state}\n"
                                   f"equity {money(t.equity)}  capital {money(t.capital)}  "
                                   f"cash {money(t.cash)}")
        sync_table(self.query_one("#traders-table", LineTable), t_rows, details)
        p_rows = []
        for p in positions:
            cells = (p.trader, p.ticker, qty(p.qty), money(p.avg_price),
                     money(p.last_price), money(p.unrealized_pnl))
            if matches(filter_text, *cells):
                p_rows.append((f"{p.trader}:{p.ticker}", cells))
        sync_table(self.query_one("#positions-table", LineTable), p_rows)
        self._draw_selected()

    def _draw_selected(self) -> None:
        name = self.selected_trader
        chart = self.query_one(EquityChart)
        if name is None:
            chart.set_series("equity: no trader", [])
            return
        points = self._equity.get(name, [])
        vs = "HODL" + (" vs backtest" if any(p.backtest is not None for p in points) else "")
        chart.set_series(f"{name}: equity vs {vs}", points)

    @property
    def selected_position(self) -> str | None:
        """"trader:ticker" of the highlighted position row."""
        return selected_key(self.query_one("#positions-table", LineTable))

    @property
    def selected_trader(self) -> str | None:
        return selected_key(self.query_one("#traders-table", LineTable))

    def on_line_table_row_highlighted(self, event: LineTable.RowHighlighted) -> None:
        if event.table.id == "traders-table":
            event.stop()
            self._draw_selected()
            self.post_message(self.TraderSelected(self.selected_trader))


__all__ = ["PositionsPane", "DASH"]
