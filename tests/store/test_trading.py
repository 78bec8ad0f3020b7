"""store.trading: traders, orders, fills, positions, equity, decisions and their stats."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from store import trading as st
from store.db import Store


def _store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "s.db")
    with s.write():
        st.upsert_trader(s, "a", broker="sim", mode="paper", model="m", study="st", trial=3,
                         tickers=["BTC-USD"], timeframe="5m", capital=Decimal("1000"),
                         backtest_sharpe=0.4)
    return s


def test_trader_row_and_flags(tmp_path: Path) -> None:
    s = _store(tmp_path)
    row = st.get_trader(s, "a")
    assert row is not None and row.ticker_list == ["BTC-USD"] and row.capital == "1000"
    with s.write():
        st.set_trader_fields(s, "a", trading_state="HALTED", state_reason="x", equity="990")
        st.upsert_trader(s, "a", broker="sim", mode="paper", model="m2", study=None, trial=None,
                         tickers=["BTC-USD"], timeframe="5m", capital=Decimal("1000"))
    row = st.get_trader(s, "a")
    assert row is not None and row.model == "m2" and row.backtest_sharpe == 0.4
    assert row.trading_state == "HALTED"
    assert st.halt_flags(s, "a") == (False, False)
    st.set_halt_requested(s, None, True)
    s.conn.execute("INSERT INTO kv VALUES ('kill_switch', '1', 0)")
    assert st.halt_flags(s, "a") == (True, True) and st.kill_switch_on(s)


def test_orders_and_fills_are_idempotent(tmp_path: Path) -> None:
    s = _store(tmp_path)
    kw = dict(client_order_id="c1", trader="a", ticker="BTC-USD", side="BUY",
              order_type="limit", post_only=True, qty=Decimal("0.5"),
              limit_price=Decimal("100"), bar_at=10.0, attempt=0)
    assert st.insert_order(s, **kw) and not st.insert_order(s, **kw)  # type: ignore[arg-type]
    assert [o.client_order_id for o in st.open_orders(s, "a")] == ["c1"]
    st.update_order(s, "c1", status="FILLED", broker_order_id="b1", filled_qty=Decimal("0.5"))
    o = st.get_order(s, "c1")
    assert o is not None and o.status == "FILLED" and o.broker_order_id == "b1" and not o.is_open
    fill = dict(fill_id="f1", trader="a", client_order_id="c1", ticker="BTC-USD", side="BUY",
                qty=Decimal("0.5"), price=Decimal("100"), fee=Decimal("0.1"), liquidity="MAKER",
                realized_pnl=None, at=20.0)
    assert st.insert_fill(s, **fill) and not st.insert_fill(s, **fill)  # type: ignore[arg-type]
    st.insert_fill(s, **(fill | {"fill_id": "f2", "liquidity": "TAKER"}))  # type: ignore[arg-type]
    assert st.liquidity_counts(s, "a") == st.LiquidityCounts(maker_fills=1, fills=2)
    assert st.liquidity_counts(s, "a", since=21.0) == st.LiquidityCounts(0, 0)
    assert st.last_fill_at(s, "a") == 20.0
    # A broker's fill id is unique only within the trader's account: another trader's "f1"
    # is another fill.
    assert st.has_fill(s, "a", "f1") and not st.has_fill(s, "b", "f1")
    assert st.insert_fill(s, **(fill | {"trader": "b"}))  # type: ignore[arg-type]
    assert st.has_fill(s, "b", "f1") and len(st.list_fills(s, "a")) == 2
    assert [(f.trader, f.fill_id) for f in st.list_fills(s, "b")] == [("b", "f1")]


def test_positions_equity_and_decision_span(tmp_path: Path) -> None:
    s = _store(tmp_path)
    st.upsert_position(s, "a", "BTC-USD", qty=Decimal("1"), avg_price=Decimal("100"),
                       last_price=Decimal("110"), realized_pnl=Decimal(0),
                       unrealized_pnl=Decimal(10))
    assert st.positions(s, "a")[0].unrealized_pnl == "10"
    for i in range(3):
        st.insert_equity(s, "a", 300.0 * i, Decimal(1000 + i), Decimal(500), 1000.0)
    assert [v for _, v in st.equity_series(s, "a", 2)] == [1001.0, 1002.0]
    recs = []
    for i in range(288 + 1):  # one day of 5m bars: 289 bar times span exactly 1 day * 289/288
        passed = i % 4 == 0
        recs.append(st.DecisionRecord(300.0 * i, "BTC-USD", 0.5, "BUY", 0.7 if passed else 0.5,
                                      0.5, 0.5, 1, 1, 0.5, passed, ""))
    recs.append(st.DecisionRecord(0.0, "ETH-USD", 0.0, "HOLD", 0.1, 0, 0, 0, 0, 0, False, "hold"))
    st.insert_decisions(s, "a", recs)
    span = st.decision_span(s, "a")
    assert span.decisions == 289 and span.passed == 73 and span.bars == 289
    assert (span.first_bar_at, span.last_bar_at) == (0.0, 288 * 300.0)
    assert span.avg_score is not None
    assert abs(span.avg_score - (73 * 0.7 + 216 * 0.5) / 289) < 1e-9
    assert st.decision_span(s, "b") == st.DecisionSpan(0, 0, None, None, None, 0)


def test_writes_take_the_traders_clock(tmp_path: Path) -> None:
    """Every write a trader makes can carry its own clock (replay time for the sim); without
    `at` a write is stamped with the wall clock (operator actions)."""
    import time

    s = _store(tmp_path)
    at = 1_650_000_000.0
    with s.write():
        st.upsert_trader(s, "b", broker="sim", mode="paper", model="m", study=None, trial=None,
                         tickers=["BTC-USD"], timeframe="5m", capital=Decimal(1), at=at)
        st.set_trader_fields(s, "b", last_bar_at=at - 300, at=at)
        st.insert_order(s, client_order_id="o", trader="b", ticker="BTC-USD", side="BUY",
                        order_type="limit", post_only=True, qty=Decimal(1),
                        limit_price=Decimal(1), bar_at=at - 300, attempt=0, at=at)
        st.update_order(s, "o", status="OPEN", at=at + 1)
        st.upsert_position(s, "b", "BTC-USD", qty=Decimal(1), avg_price=Decimal(1),
                           last_price=None, realized_pnl=Decimal(0), unrealized_pnl=Decimal(0),
                           at=at)
        st.insert_decisions(s, "b", [st.DecisionRecord(at - 300, "BTC-USD", 0.5, "BUY", 0.7,
                                                       0, 0, 0, 0, 0, True, "")], at=at)
        st.insert_equity(s, "b", at, Decimal(1), Decimal(0), 1.0, ew=0.9, backtest=1.1)
    assert st.get_trader(s, "b").updated_at == at  # type: ignore[union-attr]
    o = st.get_order(s, "o")
    assert o is not None and (o.created_at, o.updated_at) == (at, at + 1)
    assert st.positions(s, "b")[0].updated_at == at
    assert s.one("SELECT at FROM decisions WHERE trader = 'b'")["at"] == at
    assert tuple(s.one("SELECT ew_f, backtest_f FROM equity WHERE trader = 'b'")) == (0.9, 1.1)
    st.set_trader_fields(s, "b", halt_requested=1)
    assert st.get_trader(s, "b").updated_at > time.time() - 60  # type: ignore[union-attr]
