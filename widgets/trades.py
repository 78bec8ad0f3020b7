"""Trades pane: round trips (entry, exit, quantity, PnL net of fees, maker/taker, duration)
and the recent fills they come from, per trader; `/` filters both."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from widgets.fmt import duration, matches, money, qty, stamp
from widgets.inputs import FillLike, TripLike
from widgets.line_table import LineTable
from widgets.static_text import set_text
from widgets.table import sync_table

EXPORT_HINT = "export: cappuccino export trades|fills --format csv [--trader T]"


def _short(at: float) -> str:
    return stamp(at)[5:]  # MM-DD HH:MM (the year is in the detail view)


def _liq(text: str) -> str:
    return {"MAKER": "M", "TAKER": "T"}.get(text.upper(), "?")


class TradesPane(Vertical):
    DEFAULT_CSS = """
    TradesPane { height: 1fr; }
    TradesPane #trades-summary { height: auto; }
    TradesPane #trips-table { height: 2fr; }
    TradesPane #fills-table { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="trades-summary")
        yield LineTable("exit", "trader", "ticker", "qty", "entry", "exit price", "PnL net",
                        "M/T", "held", "fees", "entered", id="trips-table")
        yield LineTable("time", "trader", "ticker", "side", "qty", "price", "fee", "liq",
                        id="fills-table")

    def update_data(self, trips: Sequence[TripLike], fills: Sequence[FillLike],
                    filter_text: str = "", unmatched: int = 0) -> None:
        rows, details = [], {}
        net, fees, wins, shown = Decimal(0), Decimal(0), 0, 0
        for i, t in enumerate(trips):
            liq = _liq(t.entry_liquidity) + _liq(t.exit_liquidity)
            cells: tuple[str, ...] = (_short(t.exit_at), t.trader, t.ticker, qty(t.qty),
                     money(t.entry_price), money(t.exit_price), money(t.pnl), liq,
                     duration(t.exit_at - t.entry_at), money(t.fees), _short(t.entry_at))
            if not matches(filter_text, *cells):
                continue
            key = f"{t.trader}:{t.ticker}:{t.exit_at}:{i}"
            rows.append((key, cells))
            details[key] = (
                f"{t.trader} {t.ticker}: {qty(t.qty)} bought {stamp(t.entry_at)} at "
                f"{t.entry_price} ({t.entry_liquidity}), sold {stamp(t.exit_at)} at "
                f"{t.exit_price} ({t.exit_liquidity}); held {duration(t.exit_at - t.entry_at)}"
                f"\nPnL net of fees {t.pnl} (fees {t.fees})")
            net += Decimal(str(t.pnl))
            fees += Decimal(str(t.fees))
            wins += int(Decimal(str(t.pnl)) > 0)
            shown += 1
        sync_table(self.query_one("#trips-table", LineTable), rows, details)
        f_rows = []
        for f in fills:
            cells = (_short(f.at), f.trader, f.ticker, f.side, qty(f.qty), money(f.price),
                     money(f.fee, 4), f.liquidity)
            if matches(filter_text, *cells):
                f_rows.append((f"{f.trader}:{f.fill_id}", cells))
        sync_table(self.query_one("#fills-table", LineTable), f_rows)
        summary = (f"{shown} round trips  wins {wins}  PnL net {money(net)}  fees {money(fees)}"
                   if shown else "No round trips yet") + f"  ·  {len(f_rows)} recent fills"
        if unmatched:
            summary += f"  ·  {unmatched} sells of coins bought before the fills read"
        set_text(self.query_one("#trades-summary", Static), f"{summary}\n[dim]{EXPORT_HINT}[/]",
                 layout=False)
