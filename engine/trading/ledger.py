"""Positions from fills: average cost (buy fees included in the cost), realised PnL on sells.

The ledger holds what a trader's own fills built (engine.trading.book): an account's balance
may hold more (deposits, other traders, the operator's trades), which is never adopted.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


@dataclass
class Lot:
    qty: Decimal = ZERO
    avg_price: Decimal = ZERO
    realized: Decimal = ZERO

    def unrealized(self, price: Decimal) -> Decimal:
        return (price - self.avg_price) * self.qty if self.qty > 0 else ZERO


class Ledger:
    def __init__(self, lots: dict[str, Lot] | None = None) -> None:
        self.lots: dict[str, Lot] = lots or {}

    def lot(self, ticker: str) -> Lot:
        return self.lots.setdefault(ticker, Lot())

    def apply(self, ticker: str, side: str, qty: Decimal, price: Decimal,
              fee: Decimal) -> Decimal | None:
        """Book one fill. Returns the realised PnL of a sell (None for a buy)."""
        lot = self.lot(ticker)
        if side == "BUY":
            total = lot.qty + qty
            if total > 0:
                lot.avg_price = (lot.qty * lot.avg_price + qty * price + fee) / total
            lot.qty = total
            return None
        sold = min(qty, lot.qty) if lot.qty > 0 else qty
        pnl = (price - lot.avg_price) * sold - fee if lot.qty > 0 else -fee
        lot.qty = max(ZERO, lot.qty - qty)
        if lot.qty == 0:
            lot.avg_price = ZERO
        lot.realized += pnl
        return pnl
