"""The operator takes coins out of the account by hand while a trader runs (sells them in the
web app, moves them away): the account then holds less than the trader's book. On both fakes
(the real SDK clients): the trader keeps deciding, never sends a sell larger than what the
account holds, names the difference in its account audit, and an exit ends."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from venues import TICKERS, Desk, own_qty, trade_bars  # noqa: E402

from engine.trading.control import request_exit  # noqa: E402
from store import trading as st  # noqa: E402
from tests.fakes import FakeCoinbase  # noqa: E402


def _take(desk: Desk, base: str, qty: Decimal) -> None:
    """The operator moves `qty` of `base` out of the account."""
    with desk.fake.lock:
        if isinstance(desk.fake, FakeCoinbase):
            b = desk.fake.balances[base]
            b["available"] = str(Decimal(b["available"]) - qty)
        else:
            desk.fake.positions[f"{base}/USD"] -= qty


def test_coins_taken_by_hand_are_never_oversold(desk: Desk) -> None:
    t = desk.trader(capital=1000)
    trade_bars(desk, [t], 6)
    held = {x: own_qty(t, x) for x in TICKERS}
    assert any(q > 0 for q in held.values()), "no position built; the test proves nothing"
    for x in TICKERS:   # leave the account a third of what the book holds
        base = x.split("-")[0]
        _take(desk, base, desk.account_qty(base) - held[x] / 3)
    seen = 0
    for _ in range(8):
        before = {x: desk.account_qty(x.split("-")[0]) for x in TICKERS}
        n = len(desk.fake.orders)
        trade_bars(desk, [t], 1)
        with desk.fake.lock:
            new = list(desk.fake.orders[n:])
        for o in new:
            sell = str(o["side"]).upper() == "SELL"
            ticker = o["product_id"] if "product_id" in o else o["symbol"].replace("/", "-")
            qty = Decimal(next(iter(o["order_configuration"].values()))["base_size"]
                          if "order_configuration" in o else o["qty"])
            if sell:
                seen += 1
                assert qty <= before[ticker], f"sold {qty} {ticker} of {before[ticker]} held"
    assert t.risk.state == "ACTIVE" and seen, (t.risk.state, seen)
    assert any("more than the account" in line for line in t.audit_account())
    rejected = [r for r in st.list_orders(t.store, "t") if r.status == "REJECTED"]
    assert not [r for r in rejected if r.reason == "funds"], rejected
    request_exit(t.store, "t", None)
    for _ in range(10):
        trade_bars(desk, [t], 1)
        if t.risk.state == "ACTIVE" and not st.exit_request(t.store, "t"):
            break
    assert t.risk.state == "ACTIVE" and all(
        desk.account_qty(x.split("-")[0]) < Decimal("0.001") for x in TICKERS), (
        t.risk.state, {x: desk.account_qty(x.split("-")[0]) for x in TICKERS})
