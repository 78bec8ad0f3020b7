"""A re-price is a new order and passes the risk engine like any: on the Coinbase and the
Alpaca fakes (the real SDK clients over HTTP), a resting buy whose re-price deadline passes
after the operator asked to sell to flat (REDUCING: no buys) is cancelled and not sent again,
neither at a new price nor as a market order."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from venues import TICKERS, Desk, own_qty, trade_bars  # noqa: E402

from engine.trading.control import request_exit  # noqa: E402
from store import trading as st  # noqa: E402


def _exchange_buys(desk: Desk) -> list[str]:
    with desk.fake.lock:
        return [o["client_order_id"] for o in desk.fake.orders
                if str(o["side"]).upper() == "BUY"]


def test_no_buy_is_re_priced_while_reducing(desk: Desk) -> None:
    t = desk.trader(capital=1000)
    trade_bars(desk, [t], 3)
    assert any(own_qty(t, x) > 0 for x in TICKERS), "nothing held: the exit would end at once"
    resting: list[st.OrderRow] = []
    for _ in range(6):  # a bar whose buy rests unfilled
        desk.next_bar()
        t.step(t.clock.last_closed_bar())
        resting = [r for r in st.open_orders(t.store, "t") if r.side == "BUY"]
        if resting:
            break
        desk.fill_open()
        t.poll()
    assert resting, "the model placed no buy to re-price"
    assert "every position" in request_exit(t.store, "t", None)
    t.poll()
    assert t.risk.state == "REDUCING"
    buys = _exchange_buys(desk)
    # Past the re-price deadline, still within the bar: the executor re-prices now.
    desk.set_time(desk.machine[0] + t.cfg.execution.reprice_after_s + 1)
    t.poll()
    t.poll()
    assert _exchange_buys(desk) == buys, "a buy was sent while the trader was REDUCING"
    for r in resting:
        row = st.get_order(t.store, r.client_order_id)
        assert row is not None and row.status in ("CANCELLED", "FILLED", "PARTIAL", "OPEN")
    assert not [r for r in st.list_orders(t.store, "t")
                if r.side == "BUY" and r.attempt > 0 and r.status == "NEW"]
    assert own_qty(t, TICKERS[0]) >= 0 and t.book.cash >= Decimal(0)
