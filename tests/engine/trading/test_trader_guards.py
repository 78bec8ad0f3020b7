"""The trader against the exchange, on both venues' fakes with the real SDK clients: the
exchange's clock (skew warning, refusal, recovery; bars and order ages on exchange time), a
late newest candle (waited for, never filled forward), credentials that stop working and come
back, fills booked as soon as an order reports them, and what one bar costs in requests."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from venues import TICKERS, Desk, candle_close, trade_bars  # noqa: E402

from store import trading as st  # noqa: E402
from tests.fakes import FakeCoinbase  # noqa: E402
from tests.fakes.fake_coinbase import parse_iso  # noqa: E402


def wait_for(cond: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def alerts(d: Desk, t: object, like: str) -> list[str]:
    return [r["message"] for r in t.store.query(  # type: ignore[attr-defined]
        "SELECT message FROM alerts WHERE message LIKE ? ORDER BY id", (f"%{like}%",))]


def test_clock_skew_warns_then_refuses_then_recovers(desk: Desk) -> None:
    t = desk.trader()
    trade_bars(desk, [t], 2)
    # The machine's clock runs 30 s fast: a warning; bars follow the exchange, not the machine.
    desk.skew = -30.0
    desk.set_time(desk.machine[0] + 300)  # the machine thinks a new bar has closed
    machine_bar = (desk.machine[0] - 5) // 300 * 300 - 300
    assert abs(t.check_clock() + 30) < 1  # type: ignore[operator]
    assert t.risk.state == "ACTIVE"
    assert len(alerts(desk, t, "clock")) == 1 and "30.0s ahead of" in alerts(desk, t, "clock")[0]
    assert t.clock.last_closed_bar() == desk.exchange_bar() == machine_bar - 300
    t.check_clock()
    assert len(alerts(desk, t, "clock")) == 1  # one alert per crossing, not per check
    # Order ages use the exchange's time: a fresh order is not re-priced for the skew.
    desk.next_bar()
    t.step(t.clock.last_closed_bar())
    resting = [o for o in st.open_orders(t.store, "t") if o.status == "OPEN"]
    assert resting, "no resting order to age"
    t.poll()
    assert [o.client_order_id for o in st.open_orders(t.store, "t")] == \
        [o.client_order_id for o in resting]
    # Five minutes fast: refused (HALTED with the reason), no order while so.
    desk.skew = -300.0
    desk.set_time(desk.machine[0])
    t.check_clock()
    assert t.risk.state == "HALTED" and "clock" in t.risk.s.reason, t.risk.s.reason
    assert st.get_trader(t.store, "t").trading_state == "HALTED"  # type: ignore[union-attr]
    n = len(st.list_orders(t.store, "t"))
    desk.next_bar()
    t.step(t.clock.last_closed_bar())
    t.poll()
    assert len(st.list_orders(t.store, "t")) == n and not st.open_orders(t.store, "t")
    # The clock is back: trading resumes by itself.
    desk.skew = 0.0
    desk.set_time(desk.machine[0])
    t.check_clock()
    assert t.risk.state == "ACTIVE", t.risk.s.reason
    trade_bars(desk, [t], 2)
    assert len(st.list_orders(t.store, "t")) > n


def test_a_late_newest_candle_is_waited_for_never_filled_forward(desk: Desk) -> None:
    t = desk.trader()
    trade_bars(desk, [t], 2)
    desk.fake.publish_delay_s = 60.0  # each candle shows a minute after it closed
    desk.next_bar()                   # 10 s after the close: the newest candle is not there
    bar = t.clock.last_closed_bar()
    t.step(bar)
    assert not t.store.query("SELECT 1 FROM decisions WHERE bar_at = ?", (bar,))
    assert not [o for o in st.list_orders(t.store, "t") if o.bar_at == bar]
    # Waited for (bounded): it arrives while the trader waits, and the decision uses it.
    t.cfg = t.cfg.model_copy(update={"trader": t.cfg.trader.model_copy(
        update={"bar_wait_s": 20.0})})
    desk.next_bar()
    bar = t.clock.last_closed_bar()
    later = desk.machine[0] + 55
    threading.Timer(0.5, lambda: desk.set_time(later)).start()
    t.step(bar)
    assert t.store.query("SELECT 1 FROM decisions WHERE bar_at = ?", (bar,))
    assert t.last_prices["BTC-USD"] == Decimal(repr(candle_close(bar)))


def test_refused_credentials_halt_once_and_resume_by_themselves(desk: Desk) -> None:
    t = desk.trader()
    trade_bars(desk, [t], 1)
    stop = threading.Event()
    run = threading.Thread(target=t.run, args=(stop,), daemon=True)
    run.start()
    try:
        assert wait_for(lambda: t._next_clock_check > 0)  # past start-up, in its loop
        assert t.risk.state == "ACTIVE"
        desk.fake.unauthorized = True
        assert wait_for(lambda: t.risk.state == "HALTED"), t.risk.s.reason
        assert "credentials refused" in t.risk.s.reason and "401" in t.risk.s.reason
        time.sleep(1.0)  # it keeps probing meanwhile, without a new alert
        assert len(alerts(desk, t, "credentials refused")) == 1
        row = st.get_trader(t.store, "t")
        assert row is not None and row.trading_state == "HALTED"
        desk.fake.unauthorized = False
        assert wait_for(lambda: t.risk.state == "ACTIVE"), t.risk.s.reason
        assert wait_for(lambda: st.get_trader(t.store, "t").trading_state  # type: ignore
                        == "ACTIVE")
        assert len(alerts(desk, t, "credentials refused")) == 1
    finally:
        stop.set()
        run.join(30)
    assert not run.is_alive()


def test_fills_are_booked_as_soon_as_the_order_reports_them(desk: Desk) -> None:
    t = desk.trader()
    t.cfg = t.cfg.model_copy(update={"execution": t.cfg.execution.model_copy(
        update={"max_reprices": 0, "reprice_after_s": 1.0})})
    t.executor.cfg = t.cfg.execution
    for _ in range(6):  # a bar that leaves resting orders
        desk.next_bar()
        t.step(t.clock.last_closed_bar())
        if [o for o in st.open_orders(t.store, "t") if o.status == "OPEN"]:
            break
    resting = [o for o in st.open_orders(t.store, "t") if o.status == "OPEN"]
    assert resting
    # A maker fill between bars: booked at the next poll (fill, position, notification).
    first = resting[0]
    desk.fake.fill(first.client_order_id)
    fills0 = len(st.list_fills(t.store, "t"))
    t.poll()
    got = st.list_fills(t.store, "t")
    assert len(got) == fills0 + 1 and got[-1].client_order_id == first.client_order_id
    pos = {p.ticker: Decimal(p.qty) for p in st.positions(t.store, "t")}
    assert pos[first.ticker] == t.book.qty(first.ticker) > 0
    # The rest is re-priced as a taker (max_reprices = 0): filled at once, booked in that poll.
    if len(resting) > 1:
        desk.set_time(desk.machine[0] + 2)
        t.poll()
        taker = [f for f in st.list_fills(t.store, "t") if f.liquidity == "TAKER"]
        assert taker, "the taker re-price was not booked in the poll that placed it"
    assert t.store.query("SELECT 1 FROM outbox WHERE event = 'fill'")


def test_a_bar_costs_few_requests(desk: Desk) -> None:
    t = desk.trader()
    trade_bars(desk, [t], 3)
    t.shutdown()  # no resting orders: a plain bar
    path = "/candles" if isinstance(desk.fake, FakeCoinbase) else "/bars"
    before = len(desk.fake.requests)
    desk.next_bar()
    t.step(t.clock.last_closed_bar())
    reqs = desk.fake.requests[before:]
    bars = [r for r in reqs if path in r.path]
    assert len(bars) == len(TICKERS)  # only the new candles, one request per ticker
    for r in bars:
        start = r.arg("start") or ""
        if isinstance(desk.fake, FakeCoinbase):
            span = int(r.arg("end") or 0) - int(start)
            assert span <= 4 * 300, span  # a few bars, not the whole window
    assert not [r for r in reqs if "/products/" in r.path and not r.path.endswith("candles")]
    assert not [r for r in reqs if "/assets/" in r.path]  # product details are cached
    assert not [r for r in reqs if r.arg("start_date") and float(
        parse_iso(r.arg("start_date") or "")) < desk.machine[0] - 3600]  # no 48-hour listing
    placed = len([r for r in reqs if r.method == "POST" and r.path.endswith("orders")])
    # reconcile (fills, balances), candles, quotes; then per order at most: look-up, create,
    # read-back, and the fill booked at once.
    assert len(reqs) <= 5 + len(TICKERS) + 4 * placed, [(r.method, r.path) for r in reqs]


def test_coinbase_restart_looks_orders_up_by_id(desk: Desk) -> None:
    if not isinstance(desk.fake, FakeCoinbase):
        return  # Alpaca looks orders up by client order id natively
    t = desk.trader()
    for _ in range(6):
        desk.next_bar()
        t.step(t.clock.last_closed_bar())
        if [o for o in st.open_orders(t.store, "t") if o.status == "OPEN"]:
            break
    assert st.open_orders(t.store, "t")
    t.store.close()
    t2 = desk.trader()
    before = len(desk.fake.requests)
    desk.next_bar()
    t2.step(t2.clock.last_closed_bar())
    reqs = desk.fake.requests[before:]
    assert not [r for r in reqs if r.path.endswith("/orders/historical/batch")
                and r.arg("start_date") and parse_iso(r.arg("start_date") or "")
                < desk.machine[0] - 3600]  # no 48-hour listing: by id, or from the intent on
    assert [r for r in reqs if "/orders/historical/" in r.path
            and not r.path.endswith(("batch", "fills"))]
