"""The risk check of an order the executor sends again by itself (a re-price, or the taker
order after the last re-price): a new order, so it passes the risk engine as the bar's
decisions do, on the trader's state now (HALTED, REDUCING: no buys, position and cash limits,
the product's increments). Without it a resting buy would be re-sent, even at market, after
the operator asked to sell to flat."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.trading.risk import ProposedOrder, RiskDecision, RiskEngine
from store import trading as st


def vet(trader: Any, ticker: str, side: str, qty: Decimal,
        price: Decimal | None) -> RiskDecision:
    """The risk engine's decision on sending `qty` of `ticker` again (price None: market)."""
    if price is None:  # a market order is checked at the price it would cross at
        q = trader.broker.quotes([ticker])[ticker]
        price = q.ask if side == "BUY" else q.bid
    held = trader.ledger.lot(ticker).qty
    if side == "SELL":
        held = min(held, trader.account_qty.get(ticker, held))
    open_rows = st.open_orders(trader.store, trader.name)
    pending = sum((Decimal(r.qty) - Decimal(r.filled_qty) for r in open_rows
                   if r.ticker == ticker and r.side == "BUY"), Decimal(0))
    cash = max(Decimal(0), min(trader.book.cash - trader._reserved_buys(),
                               trader.account_free))
    risk: RiskEngine = trader.risk
    return risk.check(ProposedOrder(ticker, side, qty, price),
                      equity=trader.book.equity(trader.last_prices), position_qty=held,
                      pending_buy_qty=pending, cash_available=cash,
                      product=trader.broker.product(ticker))
