"""A fill the exchange lists late: on the Coinbase and Alpaca fakes (the real SDKs over HTTP)
two resting orders fill a few seconds apart, but the fills feed lists the earlier one only
after the later one was booked (a venue's fills feed lags, an order cancelled just after it filled).
The trader must still book it: its book equals what the account gained, no fill is lost."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from venues import TICKERS, Desk, own_qty, trade_bars  # noqa: E402

from store import trading as st  # noqa: E402


@pytest.mark.parametrize("desk", ["coinbase", "alpaca"], indirect=True)
def test_a_fill_listed_after_a_later_one_is_booked(desk: Desk) -> None:
    start = {x: desk.account_qty(x.split("-")[0]) for x in TICKERS}
    t = desk.trader(capital=1000)
    trade_bars(desk, [t], 2)
    resting: list[st.OrderRow] = []
    for _ in range(6):  # a bar whose orders rest on both tickers
        desk.next_bar()
        t.step(t.clock.last_closed_bar())
        resting = [r for r in st.open_orders(t.store, "t") if r.broker_order_id]
        if {r.ticker for r in resting} == set(TICKERS):
            break
        desk.fill_open()
        t.poll()
    early, late = sorted(resting, key=lambda r: r.ticker)[:2]
    assert {early.ticker, late.ticker} == set(TICKERS), "no bar with two resting orders"
    desk.fake.withheld_fills.add(str(early.broker_order_id))
    desk.fake.fill(early.client_order_id)
    desk.set_time(desk.machine[0] + 3)
    desk.fake.fill(late.client_order_id)
    t.poll()  # both orders stopped resting; only the later fill is listed
    booked = {f.client_order_id for f in st.list_fills(t.store, "t")}
    assert late.client_order_id in booked and early.client_order_id not in booked
    desk.fake.withheld_fills.clear()  # the feed catches up
    t.poll()
    trade_bars(desk, [t], 1, fill=False)
    booked = {f.client_order_id for f in st.list_fills(t.store, "t")}
    assert early.client_order_id in booked, "the late-listed fill was never booked"
    for x in TICKERS:  # what the account gained is exactly what the book holds
        assert desk.account_qty(x.split("-")[0]) - start[x] == own_qty(t, x)
