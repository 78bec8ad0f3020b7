"""The trader in-process on the sim broker: a bar's full path, the kill switch, re-pricing
to taker, stale data, gaps, and the CLI's refusals."""

from __future__ import annotations

import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import FAST, FILLS_AT_ONCE, NO_LIMITS, build_model  # noqa: E402

from engine.brokers.factory import make_broker  # noqa: E402
from engine.cli.main import main  # noqa: E402
from engine.config import Config  # noqa: E402
from engine.config.secrets import Secrets  # noqa: E402
from engine.metrics import decision_stats, maker_ratio_of  # noqa: E402
from engine.trading import control  # noqa: E402
from engine.trading.clock import ReplayClock  # noqa: E402
from engine.trading.policy import load_policy  # noqa: E402
from engine.trading.trader import Trader, TraderSettings  # noqa: E402
from store import trading as st  # noqa: E402
from store.db import Store  # noqa: E402

TICKERS = ("BTC-USD", "ETH-USD")
EXTRA = """
[risk]
max_order_notional = 200
max_position_pct = 60
[trader]
notify_fills = true
[execution]
max_reprices = 1
reprice_after_s = 10
"""


# The replay start these tests were written on: a stretch of the synthetic market where the
# test model trades without reaching the 2 % daily-loss halt (a few bars earlier it does).
REPLAY_START = 62


def make_trader(cfg: Config, tmp_path: Path, name: str = "t") -> tuple[Trader, Store]:
    cfg = cfg.model_copy(update={"trader": cfg.trader.model_copy(
        update={"tickers": list(TICKERS)})})
    model = build_model(tmp_path / f"model-{name}", cfg, TICKERS, scale=100)
    policy = load_policy([model], tickers=TICKERS, timeframe="5m", features=None,
                         env=cfg.env.model_dump())
    broker = make_broker(cfg, Secrets(), "sim", tmp_path / name, start_index=REPLAY_START)
    store = Store(cfg.store.path)
    clock = ReplayClock(broker, "5m", 1000)  # type: ignore[arg-type]
    settings = TraderSettings(name, "sim", "paper", str(model), None, None, TICKERS, "5m",
                              Decimal(1000))
    t = Trader(cfg, store, broker, clock, policy, settings)
    t.register()
    return t, store


def run_bars(t: Trader, n: int) -> None:
    for _ in range(n):
        t.step(t.clock.last_closed_bar())
        t.broker.advance()  # type: ignore[attr-defined]


def test_bars_make_decisions_orders_fills_and_equity(fast_config: Callable[..., Config],
                                                     tmp_path: Path) -> None:
    cfg = fast_config(EXTRA)
    cfg = cfg.model_copy(update={"conviction": cfg.conviction.model_copy(
        update={"enabled": False})})
    t, store = make_trader(cfg, tmp_path)
    run_bars(t, 30)
    t.reconcile()
    rows = store.query("SELECT * FROM decisions WHERE trader = 't'")
    assert len(rows) == 60 and {r["ticker"] for r in rows} == set(TICKERS)
    assert all(0 <= r[f] <= 1 for r in rows for f in ("f_size", "f_momentum", "f_agreement",
                                                         "f_volatility", "f_context", "score"))
    orders = st.list_orders(store, "t")
    assert orders and all(Decimal(o.qty) * Decimal(o.limit_price or 0) <= 200 for o in orders)
    fills = st.list_fills(store, "t")
    assert fills and {f.liquidity for f in fills} == {"MAKER"}
    assert maker_ratio_of(st.liquidity_counts(store, "t")) == 1.0
    eq = store.query("SELECT * FROM equity WHERE trader = 't'")
    assert len(eq) == 30 and eq[0]["benchmark_f"] is not None
    bal = t.broker.balances()
    for p in st.positions(store, "t"):
        assert Decimal(p.qty) == bal.get(p.ticker.split("-")[0], bal["USD"]).total or \
            Decimal(p.qty) == 0
    stats = decision_stats(st.decision_span(store, "t"))
    assert stats.decisions > 0 and stats.pass_rate > 0 and stats.trades_per_day > 0
    assert store.query("SELECT 1 FROM outbox WHERE event = 'fill'")
    row = st.get_trader(store, "t")
    assert row is not None and row.fee_tier and "maker_fee_rate" in row.fee_tier


def test_kill_switch_halts_and_cancels(fast_config: Callable[..., Config],
                                       tmp_path: Path) -> None:
    cfg = fast_config(EXTRA)
    cfg = cfg.model_copy(update={"conviction": cfg.conviction.model_copy(
        update={"enabled": False})})
    t, store = make_trader(cfg, tmp_path)
    for _ in range(30):  # until some order rests
        t.step(t.clock.last_closed_bar())
        if st.open_orders(store, "t"):
            break
        t.broker.advance()  # type: ignore[attr-defined]
    assert st.open_orders(store, "t")
    msg = control.halt_all(cfg, store, None)
    assert "kill switch on" in msg
    t.poll()
    assert t.risk.state == "HALTED" and not st.open_orders(store, "t")
    assert not t.broker.open_orders()
    assert st.get_trader(store, "t").trading_state == "HALTED"  # type: ignore[union-attr]
    n = len(st.list_orders(store, "t"))
    t.broker.advance()  # type: ignore[attr-defined]
    t.step(t.clock.last_closed_bar())
    assert len(st.list_orders(store, "t")) == n  # no orders while halted
    control.resume(cfg, store, None)
    t.poll()
    assert t.risk.state == "ACTIVE"
    assert store.query("SELECT 1 FROM outbox WHERE event = 'trading_state'")


def test_reprice_then_cross_as_taker(fast_config: Callable[..., Config], tmp_path: Path) -> None:
    cfg = fast_config(EXTRA)
    t, store = make_trader(cfg, tmp_path)
    bar = t.clock.last_closed_bar()
    q = t.broker.quotes(["BTC-USD"])["BTC-USD"]
    with store.write():
        t.executor.record_intent(bar, "BTC-USD", "BUY", Decimal("0.001"), q.bid - 50)
    t.executor.send_new(bar)
    (o,) = st.open_orders(store, "t")
    assert o.status == "OPEN" and o.attempt == 0
    t.executor.service(bar)  # sim time has not moved: too young to re-price
    assert st.open_orders(store, "t")[0].attempt == 0
    t.executor.now = lambda: t.broker.now() + 11  # type: ignore[method-assign]
    t.executor.service(bar)  # attempt 1: post-only at the new best bid
    (o1,) = st.open_orders(store, "t")
    assert o1.attempt == 1 and o1.post_only and Decimal(o1.limit_price or 0) == q.bid
    t.executor.service(bar)  # max_reprices = 1 exhausted: cross as taker
    orders = st.orders_for(store, "t", bar, "BTC-USD")
    assert [o.status for o in orders] == ["CANCELLED", "CANCELLED", "FILLED"]
    assert orders[-1].order_type == "market" and len({o.client_order_id for o in orders}) == 3
    t.reconcile()
    assert st.list_fills(store, "t")[0].liquidity == "TAKER"


def test_a_superseded_buy_reserves_no_cash_for_the_next_bar(
        fast_config: Callable[..., Config], tmp_path: Path) -> None:
    """A buy left unfilled by its bar is cancelled by the next one; the cash it held is the
    next bar's to spend (as the backtest's maker model assumes), not still reserved."""
    t, store = make_trader(fast_config(EXTRA), tmp_path)
    bar = t.clock.last_closed_bar()
    q = t.broker.quotes(["BTC-USD"])["BTC-USD"]
    with store.write():   # far below the market: it rests and never fills
        t.executor.record_intent(bar, "BTC-USD", "BUY", Decimal("0.001"), q.bid / 2)
    t.executor.send_new(bar)
    assert st.open_orders(store, "t")
    t.broker.advance()  # type: ignore[attr-defined]
    t.step(t.clock.last_closed_bar())
    (old,) = st.orders_for(store, "t", bar, "BTC-USD")
    assert old.status == "CANCELLED"
    assert t.available_cash == t.book.cash == Decimal(1000)


def test_stale_data_halts_and_alerts(fast_config: Callable[..., Config], tmp_path: Path) -> None:
    t, store = make_trader(fast_config(EXTRA), tmp_path)
    t.step(t.clock.last_closed_bar())
    assert t.risk.state == "ACTIVE"
    t.clock.now = lambda: t.broker.now() + 3 * 300  # type: ignore[method-assign]
    t.poll()
    assert t.risk.state == "HALTED" and "stale" in t.risk.s.reason
    assert store.query("SELECT 1 FROM alerts WHERE trader = 't'")


def test_gap_in_bars_is_filled_or_refused(fast_config: Callable[..., Config],
                                          tmp_path: Path) -> None:
    t, store = make_trader(fast_config(EXTRA), tmp_path)
    real = t.broker.bars
    bar = t.clock.last_closed_bar()
    t.broker.bars = lambda *a: [b for b in real(*a) if b.start != bar - 600]  # type: ignore
    t.history_cache.clear()
    candles, missing, data_at = t.fetch_history(bar)
    assert missing == 2 and data_at == bar
    assert candles.close[-3, 0] == candles.close[-4, 0]  # carried forward
    t.broker.bars = lambda *a: real(*a)[: len(real(*a)) // 2]  # type: ignore
    t.history_cache.clear()
    t.step(bar)  # half the window missing: no trading, no crash
    assert not store.query("SELECT 1 FROM decisions")


def test_coinbase_refuses_unarmed(config_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["--config", str(config_path), "trade", "--name", "x", "--model", "m",
            "--broker", "coinbase"]
    assert main(argv) == 2
    assert "not armed" in capsys.readouterr().err
    config_path.write_text("[coinbase]\nlive_armed = true\n")
    assert main(argv) == 2
    assert "--live" in capsys.readouterr().err
    assert main(argv + ["--live"]) == 2
    err = capsys.readouterr().err
    assert "credentials missing" in err and err.count("\n") == 1


def test_missing_model_is_one_line(config_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc = main(["--config", str(config_path), "trade", "--name", "x", "--model",
               str(config_path.parent / "nope"), "--broker", "sim"])
    err = capsys.readouterr().err
    assert rc == 2 and "model directory not found" in err and err.count("\n") == 1


def test_halt_resume_cli(fast_config: Callable[..., Config], config_path: Path,
                         capsys: pytest.CaptureFixture) -> None:
    store = Store(config_path.parent / "var" / "cappuccino.db")
    with store.write():
        st.upsert_trader(store, "a", broker="sim", mode="paper", model="m", study=None,
                         trial=None, tickers=["BTC-USD"], timeframe="5m", capital=Decimal(1))
    base = ["--config", str(config_path)]
    assert main(base + ["halt", "a"]) == 0
    assert st.halt_flags(store, "a") == (True, False)
    assert main(base + ["halt", "--all"]) == 0 and st.kill_switch_on(store)
    assert main(base + ["resume", "a"]) == 0
    assert "still on" in capsys.readouterr().out
    assert main(base + ["resume", "--all"]) == 0
    assert st.halt_flags(store, "a") == (False, False)
    assert main(base + ["halt", "nobody"]) == 2
    assert main(base + ["halt"]) == 2
    assert store.query("SELECT COUNT(*) FROM commands WHERE state = 'done'")[0][0] == 4


def test_close_only_data_matches_training_features(fast_config: Callable[..., Config],
                                                   tmp_path: Path) -> None:
    """The live path computes the features the model was trained on (train/serve parity),
    and refuses a model trained on fields the data lacks."""
    import numpy as np

    from engine.brokers.sim import SimBroker
    from engine.data.synthetic import synthetic_candles
    from engine.features import FeatureSpec, compute_features, feature_spec, live_observation
    from engine.model.artifact import ModelError

    cfg = fast_config(EXTRA)
    full = synthetic_candles(TICKERS, 400, "5m", seed=3)
    close_only = type(full)(times=full.times, tickers=full.tickers, close=full.close,
                            timeframe="5m")
    broker = SimBroker(tmp_path / "x.db", close_only, start_index=300,
                       initial_cash=Decimal(1000))
    t, store = make_trader(cfg, tmp_path)  # its model was trained on OHLCV data
    ohlcv_broker, t.broker = t.broker, broker
    candles, missing, _ = t.fetch_history(broker.now() - 300)
    assert missing == 0 and candles.high is None and candles.volume is None
    with pytest.raises(ModelError, match=r"the data has no high, low, volume, which the "
                                         r"model's indicator\(s\) .*atr_14.* need"):
        t.check_features(candles)
    # A model trained on close-only data: accepted on close-only AND on OHLCV data, and its
    # observation is built with its own spec (the training path's numbers), not the config's.
    spec = feature_spec(cfg.features, close_only)
    t.policy.spec = t.policy.spec.__class__(**{**t.policy.spec.__dict__,
                                               "features": spec.to_dict()})
    t.fspec = FeatureSpec.from_dict(t.policy.spec.features)
    t.check_features(candles)
    t.broker = ohlcv_broker
    ohlcv, _, _ = t.fetch_history(t.clock.last_closed_bar())
    assert ohlcv.high is not None and feature_spec(cfg.features, ohlcv) != spec
    t.check_features(ohlcv)
    train = compute_features(close_only.slice(0, 301), spec)[-spec.lookback:]
    live = live_observation(candles, spec, 1000.0, np.zeros(2), 1000.0)
    np.testing.assert_array_equal(live[1 + 2:], train.reshape(-1))
    np.testing.assert_array_equal(t._feature_window(candles), train)


def test_model_for_other_tickers_or_timeframe_is_refused(fast_config: Callable[..., Config],
                                                          tmp_path: Path) -> None:
    from dataclasses import replace

    from engine.model.artifact import ModelError

    t, _ = make_trader(fast_config(EXTRA), tmp_path)
    candles, _, _ = t.fetch_history(t.clock.last_closed_bar())
    t.check_features(candles)
    t.policy.spec = replace(t.policy.spec, tickers=("BTC-USD", "SOL-USD"), timeframe="1h")
    with pytest.raises(ModelError) as e:
        t.check_features(candles)
    msg = str(e.value)
    assert "tickers: model ['BTC-USD', 'SOL-USD'] vs data ['BTC-USD', 'ETH-USD']" in msg
    assert "timeframe: model 1h vs data 5m" in msg and "fields" not in msg


def test_post_only_rejection_reprices_and_bad_orders_are_recorded(
        fast_config: Callable[..., Config], tmp_path: Path) -> None:
    t, store = make_trader(fast_config(EXTRA), tmp_path)
    bar = t.clock.last_closed_bar()
    q = t.broker.quotes(["ETH-USD"])["ETH-USD"]
    # The unaffordable buy goes first: refused, it holds no cash, and the re-price (a new
    # order: it passes the risk engine on the cash the open orders leave) fits.
    with store.write():
        t.executor.record_intent(bar, "BTC-USD", "BUY", Decimal("5"), q.bid)  # no funds
    with store.write():
        t.executor.record_intent(bar, "ETH-USD", "BUY", Decimal("0.01"), q.ask)  # would cross
    t.executor.send_new(bar)
    eth = st.orders_for(store, "t", bar, "ETH-USD")
    assert [(o.attempt, o.status) for o in eth] == [(0, "REJECTED"), (1, "OPEN")]
    assert eth[0].reason == "post_only" and Decimal(eth[1].limit_price or 0) == q.bid
    (btc,) = st.orders_for(store, "t", bar, "BTC-USD")
    assert btc.status == "REJECTED" and btc.reason == "funds"
    t.executor.send_new(bar)  # nothing is sent twice
    assert len(t.broker.all_orders()) == 3  # type: ignore[attr-defined]


def test_blocked_exit_streaks_survive_a_restart(tmp_path: Path) -> None:
    from engine.trading.trader import _blocked_exits

    store = Store(tmp_path / "s.db")
    recs = [st.DecisionRecord(float(i), tk, -0.1, "SELL", 0.1, 0, 0, 0, 0, 0, ok, "")
            for i, (tk, ok) in enumerate([("A", False), ("A", True), ("A", False), ("A", False),
                                          ("B", False), ("C", True)])]
    st.insert_decisions(store, "t", recs)
    assert _blocked_exits(store, "t") == {"A": 2, "B": 1}


def test_everything_the_trader_records_is_on_its_clock(fast_config: Callable[..., Config],
                                                       tmp_path: Path) -> None:
    """Replaying old data, every time the trader writes is replay time (none is wall time),
    so the console's panes and the reports see its decisions."""
    import time

    cfg = fast_config(EXTRA)
    cfg = cfg.model_copy(update={"conviction": cfg.conviction.model_copy(
        update={"enabled": False})})
    t, store = make_trader(cfg, tmp_path)
    t0 = t.clock.now()
    run_bars(t, 20)
    t.reconcile()
    t.clock.now = lambda: t.broker.now() + 3 * 300  # type: ignore[method-assign]
    t.poll()  # stale data: HALTED with an alert
    t.shutdown()
    t1 = t.clock.now()
    assert t1 < time.time() - 86400  # the synthetic data lies in the past
    stamps = {
        "decisions.at": "SELECT at FROM decisions",
        "orders.created_at": "SELECT created_at FROM orders",
        "orders.updated_at": "SELECT updated_at FROM orders",
        "fills.at": "SELECT at FROM fills",
        "equity.at": "SELECT at FROM equity",
        "positions.updated_at": "SELECT updated_at FROM positions",
        "traders.last_bar_at": "SELECT last_bar_at FROM traders",
        "traders.updated_at": "SELECT updated_at FROM traders",
        "alerts.at": "SELECT at FROM alerts",
        "kv.updated_at": "SELECT updated_at FROM kv WHERE key LIKE '%:t'",
    }
    for what, sql in stamps.items():
        vals = [r[0] for r in store.query(sql)]
        assert vals, what
        assert all(t0 - 300 <= v <= t1 for v in vals), (what, vals[:3], t0, t1)
    # Each bar's decisions are stamped at that bar's close, like its equity row.
    rows = store.query("SELECT DISTINCT bar_at, at FROM decisions")
    assert all(r["at"] == r["bar_at"] + 300 for r in rows)


FILL_ALL = NO_LIMITS + FILLS_AT_ONCE


def test_backtest_and_equal_weight_curves(make_config: Callable[..., Config],
                                          tmp_path: Path) -> None:
    """Filter off and every order filled at the bar's close (taker, no spread, the model's
    fee rate): the model's own backtest tracks the trader's equity closely. Equal weight is
    the rebalanced mean of the price relatives; both survive in kv for a restart."""
    import json

    import numpy as np

    # No band: the model's target weights are traded every bar (many fills to compare).
    cfg = make_config(FAST.replace("[conviction]\n", "[conviction]\nenabled = false\n")
                      + FILL_ALL + "[env]\nno_trade_band = 0.0\n")
    t, store = make_trader(cfg, tmp_path)
    bars = 40
    for _ in range(bars):
        bar = t.clock.last_closed_bar()
        t.step(bar)
        real_now = t.executor.now
        t.executor.now = lambda: t.broker.now() + 2  # type: ignore[method-assign]
        t.executor.service(bar)  # every resting maker order crosses as taker at the close
        t.executor.now = real_now  # type: ignore[method-assign]
        t.broker.advance()  # type: ignore[attr-defined]
    rows = store.query("SELECT at, equity_f, benchmark_f, ew_f, backtest_f FROM equity "
                       "WHERE trader = 't' ORDER BY at")
    assert len(rows) == bars
    eq = np.array([r["equity_f"] for r in rows])
    bt = np.array([r["backtest_f"] for r in rows])
    ew = np.array([r["ew_f"] for r in rows])
    assert bt[0] == eq[0] == ew[0] == rows[0]["benchmark_f"] == 1000.0
    fills = st.list_fills(store, "t")
    assert len(fills) > 20 and {f.liquidity for f in fills} == {"TAKER"}
    assert np.max(np.abs(bt - eq)) > 0  # the curves are really computed, not copied
    # Closely: within 0.01% of equity at every bar (spread rounding, product increments
    # and the buys' cash cap are the only differences left; see engine.trading.shadow).
    assert np.max(np.abs(bt / eq - 1)) < 1e-4, np.max(np.abs(bt / eq - 1))
    # Equal weight: rebalanced every bar, no fees, from the bars' closes.
    c = t.broker.candles.close  # type: ignore[attr-defined]
    start = int(np.searchsorted(t.broker.candles.times, rows[0]["at"] - 300))  # type: ignore
    rel = c[start + 1:start + bars] / c[start:start + bars - 1]
    want = 1000.0 * np.concatenate([[1.0], np.cumprod(rel.mean(axis=1))])
    np.testing.assert_allclose(ew, want, rtol=1e-12)
    state = json.loads(store.one("SELECT value FROM kv WHERE key = 'shadow:t'")["value"])
    assert state["ew"] == ew[-1] and len(state["holdings"]) == 2
