"""One decision function (engine.trading.decide.decide_bar): a hand-checked bar, and the
same bars through the trader (in-process on the sim broker, a real store), `cappuccino
backtest`'s path and the conviction replay give the same decisions and the same orders.

To compare the paths, every order is filled at its bar's close as the backtest assumes:
the sim has no spread and charges the model's fee as maker and taker, and each bar's
resting orders cross as taker before the next bar (as in test_trader's shadow test). The
model has no execution delay and no band, so it trades every bar. What still differs, and
why quantities are compared to 2e-4 rather than exactly (they differ by up to 5e-5 here):
the sim quantizes its quotes to the cent (a taker fill is up to a cent from the close) and
the trader rounds quantities down to the product's 1e-8 increment; the backtest has no
book, so it fills exactly at the close.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import FAST, FILLS_AT_ONCE, NO_LIMITS  # noqa: E402
from test_trader import make_trader  # noqa: E402

from engine.brokers.factory import sim_candles  # noqa: E402
from engine.config import Config  # noqa: E402
from engine.reports.backtest import backtest  # noqa: E402
from engine.reports.replay import replay  # noqa: E402
from engine.trading.trader import Trader  # noqa: E402
from store import trading as st  # noqa: E402
from store.db import Store  # noqa: E402


def test_one_bar_by_hand() -> None:
    """Three tickers, delta mapping (half the equity per full action), equity 1000 with 600
    cash to spend: A asks 500 (fits), B asks 500 (only the 100 A left: clamped to 2 at 50),
    C sells 50 of the 2 held (capped). Sells come first. Then a filter that blocks
    everything but an exit it must release."""
    from engine.config.schema import ConvictionSection, RiskSection
    from engine.env.step import StepParams
    from engine.trading.conviction import FACTORS, ConvictionFilter
    from engine.trading.decide import BarInput, decide_bar
    from engine.trading.risk import RiskEngine

    prm = StepParams(max_frac=0.5, fee=0.0, min_order=1.0, scale=0.0)
    risk = RiskEngine(RiskSection(max_position_pct=100.0, max_order_notional=1e6), 300.0,
                      fee_rate=Decimal(0))
    acts = np.array([1.0, 1.0, -1.0])
    closes = np.tile([100.0, 50.0, 10.0], (30, 1))
    bar = BarInput(("A", "B", "C"), acts, acts[None, :], closes[-1], np.array([0, 0, 2.0]),
                   closes, Decimal(1000), Decimal(600))
    d = decide_bar(prm, bar, None, risk)
    assert [(i.ticker, i.side, i.qty, i.price) for i in d.intents] == [
        ("C", "SELL", Decimal(2), Decimal("10.0")), ("A", "BUY", Decimal(5), Decimal("100.0")),
        ("B", "BUY", Decimal(2), Decimal("50.0"))]
    a, b, c = d.decisions
    assert (a.reason, a.fraction) == ("no filter", 1.0)
    assert (b.reason, b.fraction) == ("no filter; risk clamped: cash", 0.2)
    assert (c.reason, c.fraction) == ("no filter; risk clamped: capped at holding", 0.04)
    assert list(d.keep()) == [1.0, 0.2, 0.04]

    filt = ConvictionFilter(ConvictionSection(min_score=1.0, exit_threshold_factor=1.0,
                                              exit_max_blocked=2), 100.0)
    first = decide_bar(prm, bar, filt, risk)
    assert not first.intents and all(not x.passed for x in first.decisions)
    assert {x.blocked_by for x in first.decisions} <= set(FACTORS)
    assert first.decisions[0].blocked_by is not None
    assert dict(first.exit_streaks) == {"C": 1} and filt.blocked_exits == {}  # pure
    released = decide_bar(prm, replace(bar, exit_streaks={"C": 2}), filt, risk)
    assert [(i.ticker, i.qty) for i in released.intents] == [("C", Decimal(2))]
    assert released.decisions[2].reason.startswith("exit released")
    assert dict(released.exit_streaks) == {"C": 0}


CLOSE_FILLS = """
[env]
initial_cash = 1000.0
execution_delay = false
no_trade_band = 0.0""" + FILLS_AT_ONCE
WIDE = NO_LIMITS
# The risk engine clamps most buys (the replay does not run it, so only the trader and
# the backtest are compared).
TIGHT = """
[risk]
max_order_notional = 120
max_position_pct = 45
daily_loss_pct = 100
max_consecutive_losses = 1000
"""
BARS = 30
Order = tuple[float, str, str, float]   # (bar time, ticker, side, qty)


def _config(make_config: Callable[..., Config], risk: str) -> Config:
    cfg = make_config(FAST.replace("[conviction]\n", "[conviction]\nmin_score = 0.5\n")
                      + CLOSE_FILLS + risk)
    return cfg


def _trade(t: Trader, bars: int) -> None:
    for _ in range(bars):
        bar = t.clock.last_closed_bar()
        t.step(bar)
        real_now = t.executor.now
        t.executor.now = lambda: t.broker.now() + 2  # type: ignore[method-assign]
        t.executor.service(bar)  # the bar's resting orders cross as taker at its close
        t.executor.now = real_now  # type: ignore[method-assign]
        t.broker.advance()  # type: ignore[attr-defined]
    t.reconcile()


def _trader_path(cfg: Config, tmp_path: Path) -> tuple[Trader, Store, list[Order], float]:
    t, store = make_trader(cfg, tmp_path)
    first = t.clock.last_closed_bar()
    _trade(t, BARS)
    orders = [(o.bar_at, o.ticker, o.side, float(o.qty)) for o in st.list_orders(store, "t")
              if o.attempt == 0]
    fills = st.list_fills(store, "t")
    assert len({f.client_order_id for f in fills}) == len(orders)  # every intent filled
    return t, store, sorted(orders), first


def _backtest_orders(r: object, times: np.ndarray) -> list[Order]:
    out = []
    for res in r.per_ticker:  # type: ignore[attr-defined]
        out += [(float(times[f.bar]), res.ticker, f.side, f.shares) for f in res.fills]
    return sorted(out)


def _assert_same(a: list[Order], b: list[Order]) -> None:
    assert [x[:3] for x in a] == [x[:3] for x in b]
    np.testing.assert_allclose([x[3] for x in a], [x[3] for x in b], rtol=2e-4)


def _window(t: Trader, cfg: Config, first: float) -> tuple[object, int]:
    c = sim_candles(cfg.model_copy(update={"trader": cfg.trader.model_copy(
        update={"tickers": list(t.s.tickers)})}))
    lo = int(np.searchsorted(c.times, first))
    assert c.times[lo] == first
    return c, lo


def test_trader_replay_and_backtest_decide_alike(make_config: Callable[..., Config],
                                                 tmp_path: Path) -> None:
    cfg = _config(make_config, WIDE)
    t, store, trader_orders, first = _trader_path(cfg, tmp_path)
    assert t.step_params.fee == pytest.approx(0.0025) and not t.step_params.delay
    decisions = store.query("SELECT bar_at, ticker, side, passed, reason FROM decisions "
                            "WHERE trader = 't' ORDER BY bar_at, ticker")
    assert len(decisions) == BARS * 2
    traded = [d for d in decisions if d["side"] != "HOLD"]
    passed = [d for d in traded if d["passed"]]
    # The filter really works here: some decisions blocked, most passed.
    assert 0 < len(passed) < len(traded) and len(trader_orders) == len(passed)
    c, lo = _window(t, cfg, first)
    policy = t.policy
    r = backtest(policy, c, cfg.conviction, cfg.risk.max_position_pct, lo=lo,  # type: ignore
                 hi=lo + BARS + 1, risk=cfg.risk)
    assert r.times[0] == first and r.fee_rate == pytest.approx(0.0025)
    _assert_same(_backtest_orders(r, r.times), trader_orders)
    rp = replay(policy, c, cfg.conviction, cfg.risk.max_position_pct, lo=lo,  # type: ignore
                hi=lo + BARS + 1)
    assert (rp.decisions, rp.passed) == (len(traded), len(passed))
    assert rp.filtered.orders == len(trader_orders)
    assert rp.filtered.final_equity == pytest.approx(r.equity[-1], rel=1e-12)


def test_trader_and_backtest_clamp_alike(make_config: Callable[..., Config],
                                         tmp_path: Path) -> None:
    cfg = _config(make_config, TIGHT)
    t, store, trader_orders, first = _trader_path(cfg, tmp_path)
    reasons = [r["reason"] for r in store.query("SELECT reason FROM decisions")]
    assert any("max order notional" in x for x in reasons)   # the risk engine binds
    c, lo = _window(t, cfg, first)
    r = backtest(t.policy, c, cfg.conviction, cfg.risk.max_position_pct, lo=lo,  # type: ignore
                 hi=lo + BARS + 1, risk=cfg.risk)
    _assert_same(_backtest_orders(r, r.times), trader_orders)


MAKER = """
[env]
initial_cash = 1000.0
no_trade_band = 0.0
[trader]
notify_fills = false
sim_spread_bps = 2
sim_maker_fee_rate = 0.004
sim_taker_fee_rate = 0.006
"""


def test_trader_on_the_sim_and_backtest_fills_maker_alike(
        make_config: Callable[..., Config], tmp_path: Path) -> None:
    """The sim trader's maker-first orders (post-only at the bid/ask, filled when the next
    bar trades through them, else superseded by the next bar: a replay never re-prices)
    against `backtest --fills maker` with on_exhausted "skip": the same orders, the same
    ones filled, at the same prices. Left apart: the sim quotes to the cent."""
    from engine.reports.fills import MakerFirst

    cfg = make_config(FAST.replace("[conviction]\n", "[conviction]\nmin_score = 0.5\n")
                      + MAKER + WIDE)
    t, store = make_trader(cfg, tmp_path)
    first = t.clock.last_closed_bar()
    for _ in range(BARS):
        t.step(t.clock.last_closed_bar())
        t.broker.advance()  # type: ignore[attr-defined]
    t.step(t.clock.last_closed_bar())   # books the last bar's fills, cancels the rest
    t.reconcile()
    orders = st.list_orders(store, "t")
    assert all(o.attempt == 0 and o.post_only for o in orders)   # never re-priced
    last = first + BARS * 300
    sent = sorted((o.bar_at, o.ticker, o.side, float(o.qty)) for o in orders
                  if o.bar_at < last)
    filled = sorted((o.bar_at, o.ticker, o.side, float(o.qty), float(o.avg_price or 0))
                    for o in orders if o.status == "FILLED")
    assert 0 < len(filled) < len(sent)   # some fill as maker, some are superseded
    c, lo = _window(t, cfg, first)
    x = MakerFirst(0.004, 0.006, 2 / 20_000, taker_at_deadline=False)
    r = backtest(t.policy, c, cfg.conviction, cfg.risk.max_position_pct, lo=lo,  # type: ignore
                 hi=lo + BARS + 1, risk=cfg.risk, execution=x)
    fills = sorted((float(r.times[f.bar - 1]), res.ticker, f.side, f.shares, f.price)
                   for res in r.per_ticker for f in res.fills)
    assert [f[:3] for f in fills] == [f[:3] for f in filled]
    np.testing.assert_allclose([f[3] for f in fills], [f[3] for f in filled], rtol=2e-4)
    np.testing.assert_allclose([f[4] for f in fills], [f[4] for f in filled], rtol=2e-4)
