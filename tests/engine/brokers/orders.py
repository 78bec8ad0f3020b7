"""Order requests the exchange-facing broker tests send (one BTC-USD limit buy shape)."""

from __future__ import annotations

from decimal import Decimal

from engine.brokers.base import OrderRequest


def limit_buy(cid: str, qty: str = "0.01", price: str = "49000",
              post_only: bool = True) -> OrderRequest:
    return OrderRequest(cid, "BTC-USD", "BUY", Decimal(qty), Decimal(price), post_only)
