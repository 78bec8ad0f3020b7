"""A trader owns exactly its capital, on Coinbase- and Alpaca-shaped exchanges (the real SDK
clients against the local fakes) whose account holds far more than the capital: its book,
restarts that change nothing, several traders on one account, orders placed by hand."""

from __future__ import annotations

import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from venues import TICKERS, Desk, own_qty, trade_bars, venue_config  # noqa: E402

from engine.cli.status import traders_view  # noqa: E402
from engine.config import Config  # noqa: E402
from engine.trading.account import AllotmentError  # noqa: E402
from engine.trading.risk import RiskState  # noqa: E402
from engine.trading.trader import Trader  # noqa: E402
from store import kv  # noqa: E402
from store import trading as st  # noqa: E402
from tests.fakes import FakeAlpaca, FakeCoinbase  # noqa: E402


def test_capital_bounds_exposure_on_a_larger_account(desk: Desk) -> None:
    """--capital 1000 on a USD 10,000 account that also holds BTC (and ETH): orders, positions
    and equity stay within the 1000 book; the account's own coins are never adopted."""
    start_usd = desk.account_usd()
    start_qty = {t: desk.account_qty(t.split("-")[0]) for t in TICKERS}
    assert start_usd == 10000 and start_qty["BTC-USD"] > 0
    t = desk.trader(capital=1000)
    assert t.equity == 1000 and t.book.cash == 1000
    seen: list[Decimal] = []

    def check() -> None:
        prices = t.last_prices
        held = sum((own_qty(t, x) * prices[x] for x in TICKERS), Decimal(0))
        equity = t.book.equity(prices)
        assert t.book.cash >= 0, "spent more cash than the book holds"
        assert held <= equity
        for x in TICKERS:  # each asset within max_position_pct of the book (one bar of drift)
            assert own_qty(t, x) * prices[x] <= Decimal("0.60") * equity * Decimal("1.05")
        spent = start_usd - desk.account_usd()
        assert spent <= 1000, f"the account spent {spent} for a 1000 book"
        for x in TICKERS:  # what the account gained is exactly what the book holds
            assert desk.account_qty(x.split("-")[0]) - start_qty[x] == own_qty(t, x)
        seen.append(held)

    trade_bars(desk, [t], 14, check)
    assert max(seen) > 300, "the trader never built a position; the test proves nothing"
    row = st.get_trader(t.store, "t")
    assert row is not None and Decimal(row.equity or 0) == t.equity < 1500  # not the account
    assert st.list_fills(t.store, "t") and all(
        st.get_order(t.store, f.client_order_id).trader == "t"  # type: ignore[union-attr]
        for f in st.list_fills(t.store, "t"))
    lines = t.audit_account()  # the account's own coins are reported, not adopted
    assert any("held beyond the traders' books" in x for x in lines)
    assert t.risk.state == "ACTIVE"


def test_restart_keeps_the_book_and_stays_active(desk: Desk) -> None:
    t = desk.trader(capital=1000)
    trade_bars(desk, [t], 8)
    assert any(own_qty(t, x) > 0 for x in TICKERS)
    before = (t.book.cash, {x: own_qty(t, x) for x in TICKERS}, t.equity, t.risk.s.to_json())
    alerts = t.store.query("SELECT COUNT(*) AS n FROM alerts")[0]["n"]
    # A state saved by the account-based code: day base of a USD 10,000+ account.
    old = RiskState.from_json(t.risk.s.to_json())
    old.basis, old.day_start_equity, old.day = "", 9939.0, int(t.clock.now() // 86400)
    kv.put(t.store, "risk:t", old.to_json())
    t.store.close()

    t2 = desk.trader(capital=1000)  # same store, a fresh broker client: a restart
    assert (t2.book.cash, {x: own_qty(t2, x) for x in TICKERS}, t2.equity) == before[:3]
    t2.poll()
    assert t2.risk.state == "ACTIVE", t2.risk.s.reason
    assert abs(t2.risk.s.day_start_equity - float(before[2])) < 1e-9  # re-based on the book
    trade_bars(desk, [t2], 2)
    assert t2.risk.state == "ACTIVE", t2.risk.s.reason
    assert st.get_trader(t2.store, "t").trading_state == "ACTIVE"  # type: ignore[union-attr]
    new = t2.store.query("SELECT message FROM alerts")[alerts:]
    assert not [a for a in new if "daily loss" in a["message"]]


def test_plain_restart_changes_nothing(desk: Desk) -> None:
    t = desk.trader(capital=1000)
    trade_bars(desk, [t], 6)
    before = (t.book.cash, t.equity, t.risk.s.to_json(), t.last_prices)
    t.shutdown()
    t.store.close()
    t2 = desk.trader(capital=1000)
    t2.poll()
    assert (t2.book.cash, t2.equity, t2.risk.s.to_json(), t2.last_prices) == before


def test_two_traders_share_an_account_with_separate_books(desk: Desk) -> None:
    a = desk.trader("a", capital=3000)
    b = desk.trader("b", capital=2000, model=desk.tmp / "model")
    start = {x: desk.account_qty(x.split("-")[0]) for x in TICKERS}
    trade_bars(desk, [a, b], 8)
    for t in (a, b):
        fills = st.list_fills(t.store, t.name)
        assert fills, f"{t.name} made no fill"
        assert {st.get_order(t.store, f.client_order_id).trader  # type: ignore[union-attr]
                for f in fills} == {t.name}
        spent = sum((Decimal(f.qty) * Decimal(f.price) * (1 if f.side == "BUY" else -1)
                     + Decimal(f.fee) for f in fills), Decimal(0))
        assert t.book.cash == Decimal(t.s.capital) - spent
    for x in TICKERS:  # the account's gain is the two books together, nothing else
        assert desk.account_qty(x.split("-")[0]) - start[x] == own_qty(a, x) + own_qty(b, x)
    c = desk.trader("c", capital=6000, register=False)
    with pytest.raises(AllotmentError, match="would overdraw"):
        c.check_allotment()
    desk.trader("d", capital=1000, register=False).check_allotment()  # what is left still fits


def test_an_order_placed_by_hand_is_reported_and_left_alone(desk: Desk) -> None:
    t = desk.trader(capital=1000)
    trade_bars(desk, [t], 2)
    if isinstance(desk.fake, FakeCoinbase):
        oid = desk.fake.place_by_hand("BTC-USD", "BUY", "0.5", "90.00")
        status = lambda: next(o["status"] for o in desk.fake.orders  # noqa: E731
                              if o["order_id"] == oid)
    else:
        oid = desk.fake.place_by_hand("BTC/USD", "buy", "0.5", "90.00")
        status = lambda: next(o["status"] for o in desk.fake.orders  # noqa: E731
                              if o["id"] == oid)
    assert st.get_trader(t.store, "t").unattributed is None  # type: ignore[union-attr]
    lines = t.audit_account()  # seen once: not yet reported (a fill may be in flight)
    assert st.get_trader(t.store, "t").unattributed is None  # type: ignore[union-attr]
    assert t.audit_account() == lines  # seen again: reported
    assert any("not placed by a trader" in x and oid in x for x in lines)
    row = st.get_trader(t.store, "t")
    assert row is not None and oid in (row.unattributed or "")
    view = next(v for v in traders_view(t.store) if v["name"] == "t")
    assert any(oid in x for x in view["unattributed"])
    assert t.store.query("SELECT 1 FROM alerts WHERE message LIKE ?", (f"%{oid}%",))
    trade_bars(desk, [t], 3, fill=False)
    t.executor.cancel_open()
    t.shutdown()
    assert status() in ("OPEN", "new")  # untouched through bars, a halt-style cancel, shutdown
    assert any(oid in x for x in t.audit_account())  # still reported, once
    assert len(t.store.query("SELECT 1 FROM alerts WHERE message LIKE ?", (f"%{oid}%",))) == 1
    assert not [o for o in st.list_orders(t.store, "t") if o.broker_order_id == oid]


def test_cli_refuses_a_capital_the_account_cannot_cover(
        make_config: Callable[..., Config], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    from conftest import build_model

    from engine.cli.main import main

    with FakeAlpaca() as fake:
        cfg = venue_config(make_config, "alpaca", fake)
        model = build_model(tmp_path / "m", cfg, TICKERS)
        monkeypatch.setenv("APCA_API_KEY_ID", "PKTEST")
        monkeypatch.setenv("APCA_API_SECRET_KEY", "s3cret")
        rc = main(["--config", str(tmp_path / "cappuccino.toml"), "trade", "--name", "big",
                   "--model", str(model), "--broker", "alpaca", "--tickers", ",".join(TICKERS),
                   "--capital", "20000"])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2
        assert len([x for x in err if "would overdraw" in x]) == 1 and "Traceback" not in \
            "\n".join(err)
        assert "USD 10000.00" in err[-1]
        assert not fake.count("POST", "/v2/orders")


def test_restart_in_any_trading_state_keeps_it_without_a_new_notice(desk: Desk) -> None:
    from engine.trading import control

    t = desk.trader(capital=1000)
    trade_bars(desk, [t], 3)

    def notices() -> int:
        return len(t.store.query("SELECT 1 FROM outbox WHERE event = 'trading_state'"))

    def restart() -> Trader:
        t.store.close()
        t2 = desk.trader(capital=1000)
        t2.poll()
        return t2

    # REDUCING (a losing streak's pause), then HALTED by the operator.
    t.risk.s.paused_until = t.clock.now() + 3600
    t.poll()
    assert t.risk.state == "REDUCING"
    n, state = notices(), t.risk.s.to_json()
    t = restart()
    assert t.risk.state == "REDUCING" and t.risk.s.to_json() == state and notices() == n
    control.halt(t.store, "t")
    t.poll()
    assert t.risk.state == "HALTED"
    n, state = notices(), t.risk.s.to_json()
    t = restart()
    assert t.risk.state == "HALTED" and t.risk.s.to_json() == state and notices() == n
    control.resume(t.cfg, t.store, None)
    t.poll()
    assert t.risk.state == "REDUCING"
