"""The backtest's per-ticker accounting against a hand computation (a scripted policy)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from engine.config import Config
from engine.data.synthetic import synthetic_candles
from engine.model.artifact import read_spec
from engine.reports.backtest import backtest, overlap_warning, to_dict, write_html
from engine.trading.policy import Policy, PolicyOutput
from tests.engine.reports.test_replay import CONFIG, build_model

TICKERS = ("AAA-USD", "BBB-USD")
ENV = {"action_mapping": "delta", "max_trade_fraction": 0.5, "min_order_value": 1.0,
       "execution_delay": False, "no_trade_band": 0.0, "fee_rate": 0.01, "spread_bps": 0.0,
       "initial_cash": 1000.0}


class Scripted:
    """A policy that plays a fixed list of actions, one row per bar."""

    def __init__(self, spec: Any, script: list[list[float]]) -> None:
        self.spec, self.script, self.members = spec, script, [None]

    def describe(self) -> str:
        return "scripted"

    def act(self, obs: np.ndarray) -> PolicyOutput:
        a = np.asarray(self.script.pop(0), dtype=float)
        return PolicyOutput(a, np.ones_like(a), a[None, :])


@pytest.fixture
def hand(make_config: Callable[..., Config], tmp_path: Path):
    cfg = make_config(CONFIG)
    model = build_model(tmp_path / "m", cfg, TICKERS, seed=1)
    spec = replace(read_spec(model), env=ENV)
    c = synthetic_candles(TICKERS, 120, "5m", seed=4)
    close = c.close.copy()
    k = 100   # acting bars 100, 101, 102; bar 103 is the last (marked to)
    close[k:k + 4] = [[100.0, 40.0], [90.0, 50.0], [95.0, 55.0], [95.0, 60.0]]
    c = replace(c, close=close)   # features ignore the script; only closes matter
    conv = cfg.conviction.model_copy(update={"min_score": 0.0})
    return cfg, spec, c, conv, k


def test_hand_computed_pnl_and_fees(hand, tmp_path: Path) -> None:
    cfg, spec, c, conv, k = hand
    # bar 100: buy A; bar 101: sell A, buy B; bar 102: nothing.
    pol = Scripted(spec, [[1.0, 0.0], [-1.0, 1.0], [0.0, 0.0]])
    r = backtest(cast(Policy, pol), c, conv, 1.0, lo=k, hi=k + 4, cost=0.01)
    a, b = r.per_ticker
    # A: buy 500 at 100 (5 shares, fee 5, cash 495); at 90 equity 945, the sell asks
    # 0.5*945/90 = 5.25 >= 5 shares: all 5 sold for 450, fee 4.5, net 445.5.
    assert (a.trades, a.buys, a.sells, a.round_trips, a.wins) == (2, 1, 1, 1, 0)
    assert a.fees == pytest.approx(9.5)
    assert a.pnl == pytest.approx(445.5 - 505.0)
    assert a.win_rate == 0.0
    # B: buy 0.5*945 = 472.5 at 50 (9.45 shares, fee 4.725), marked at 60 = 567.
    assert (b.trades, b.buys, b.sells, b.round_trips) == (1, 1, 0, 0) and b.win_rate is None
    assert b.fees == pytest.approx(4.725)
    assert b.pnl == pytest.approx(567.0 - 477.225)
    assert r.equity[-1] == pytest.approx(1000.0 + a.pnl + b.pnl)
    assert r.equity[-1] == pytest.approx(463.275 + 567.0)
    # HODL: 500 in each at bar 100, held to bar 103.
    assert r.hodl[-1] == pytest.approx(500 * 95 / 100 + 500 * 60 / 40)
    d = to_dict(r)
    assert d["trades"] == 3 and d["fees"] == pytest.approx(14.225)
    assert {"sharpe", "sharpe_se", "max_drawdown", "return"} <= set(d["equity"])
    out = write_html(r, tmp_path / "r.html")
    text = out.read_text()
    assert text.count("AAA-USD: price, entries and exits") == 1 and "triangle-up" in text


def test_win_rate_counts_round_trips_paired_first_in_first_out(
        make_config: Callable[..., Config], tmp_path: Path) -> None:
    """Two buys closed by one sell: two round trips (the Trades pane's FIFO pairing), one
    won and one lost, where a per-sell count on the average cost would say 1 of 1."""
    cfg = make_config(CONFIG)
    spec = replace(read_spec(build_model(tmp_path / "m", cfg, TICKERS, seed=1)),
                   env={**ENV, "max_trade_fraction": 1.0})
    c = synthetic_candles(TICKERS, 120, "5m", seed=4)
    close = c.close.copy()
    k = 100
    close[k:k + 4] = [[100.0, 40.0], [120.0, 40.0], [110.0, 40.0], [110.0, 40.0]]
    c = replace(c, close=close)
    conv = cfg.conviction.model_copy(update={"min_score": 0.0})
    # bar 100: buy 500 of A at 100 (5 shares, fee 5); bar 101: equity 495 + 600 = 1095,
    # buy 0.1 x 1095 = 109.5 at 120 (0.9125 shares, fee 1.095); bar 102: sell all
    # 5.9125 shares at 110 (650.375, fee 6.50375, 1.10 a share).
    pol = Scripted(spec, [[0.5, 0.0], [0.1, 0.0], [-1.0, 0.0]])
    r = backtest(cast(Policy, pol), c, conv, 1.0, lo=k, hi=k + 4, cost=0.01)
    a, b = r.per_ticker
    assert [f.side for f in a.fills] == ["BUY", "BUY", "SELL"]
    assert [f.shares for f in a.fills] == pytest.approx([5.0, 0.9125, 5.9125])
    assert [f.price for f in a.fills] == [100.0, 120.0, 110.0]
    # Round trip 1: 5 at 100 -> 110: 50 - (1.00 + 1.10) x 5 = +39.5 (won).
    # Round trip 2: 0.9125 at 120 -> 110: -9.125 - (1.20 + 1.10) x 0.9125 = -11.22 (lost).
    assert (a.sells, a.round_trips, a.wins) == (1, 2, 1) and a.win_rate == 0.5
    assert a.pnl == pytest.approx(39.5 - 11.22375)   # all closed: the trips' PnL sum
    assert (b.trades, b.round_trips, b.win_rate) == (0, 0, None)
    d = to_dict(r)["per_ticker"][0]
    assert (d["round_trips"], d["win_rate"]) == (2, 0.5)


@pytest.mark.parametrize("taker", [True, False])
def test_maker_first_fills(make_config: Callable[..., Config], tmp_path: Path,
                           taker: bool) -> None:
    """--fills maker: a limit at the quote fills at its limit with the maker fee when the
    next bar's range crosses it, else as taker at that bar's close (or not at all)."""
    from engine.reports.fills import MakerFirst

    cfg = make_config(CONFIG)
    spec = replace(read_spec(build_model(tmp_path / "m", cfg, TICKERS, seed=1)), env=ENV)
    c = synthetic_candles(TICKERS, 120, "5m", seed=4)
    close, low, high = c.close.copy(), c.low.copy(), c.high.copy()  # type: ignore[union-attr]
    k = 100
    close[k:k + 4] = [[100.0, 40.0], [90.0, 50.0], [88.0, 55.0], [88.0, 60.0]]
    low[k + 1:k + 4] = [[89.0, 39.5], [87.5, 49.0], [87.0, 54.0]]
    high[k + 1:k + 4] = [[100.5, 50.5], [90.0, 55.5], [89.0, 60.5]]
    c = replace(c, close=close, low=low, high=high)
    conv = cfg.conviction.model_copy(update={"min_score": 0.0})
    x = MakerFirst(maker_fee=0.004, taker_fee=0.006, half_spread=0.001,
                   taker_at_deadline=taker)
    # bar 100: buy 0.5 x 1000 / 100 = 5 A at the bid 99.9; bar 101's low 89 < 99.9: a
    # maker fill (499.5, fee 1.998), cash 498.502. Bar 101 (equity 948.502): sell 5 A at
    # the ask 90.09 and buy 0.5 x 948.502 / 50 = 9.48502 B at the bid 49.95. Bar 102's A
    # high 90 < 90.09: A is not filled as maker; B's low 49 < 49.95: B fills as maker.
    pol = Scripted(spec, [[1.0, 0.0], [-1.0, 1.0], [0.0, 0.0]])
    r = backtest(cast(Policy, pol), c, conv, 1.0, lo=k, hi=k + 4, execution=x)
    a, b = r.per_ticker
    b_cost = 9.48502 * 49.95 * 1.004
    assert [(f.side, f.bar) for f in b.fills] == [("BUY", 2)]
    assert b.fills[0].price == pytest.approx(49.95) and b.fees == pytest.approx(
        9.48502 * 49.95 * 0.004)
    assert b.pnl == pytest.approx(9.48502 * 60.0 - b_cost)
    if taker:   # A crosses at bar 102's bid 88 x 0.999 = 87.912, taker fee 0.006
        assert [(f.side, f.bar) for f in a.fills] == [("BUY", 1), ("SELL", 2)]
        assert [f.price for f in a.fills] == pytest.approx([99.9, 87.912])
        assert a.fees == pytest.approx(1.998 + 439.56 * 0.006)
        assert a.pnl == pytest.approx(439.56 * 0.994 - 501.498)
        assert (a.round_trips, a.wins) == (1, 0)
        assert r.equity[-1] == pytest.approx(1000 + a.pnl + b.pnl)
        assert r.equity[-1] == pytest.approx(1028.853984)
    else:       # unfilled: the 5 A stay, marked at 88
        assert [f.side for f in a.fills] == ["BUY"] and a.win_rate is None
        assert a.pnl == pytest.approx(5 * 88.0 - 501.498)
        assert r.equity[-1] == pytest.approx(498.502 - b_cost + 5 * 88.0 + 9.48502 * 60.0)
    d = to_dict(r)
    assert "maker-first" in d["fills_note"] and d["fills"] == "maker"
    assert d["maker_ratio"] == (2 / 3 if taker else 1.0)   # A's buy and B's buy as maker


def test_overlap_warning(hand) -> None:
    _, spec, c, _, _ = hand
    t0, t1 = float(c.times[0]), float(c.times[-1])
    assert overlap_warning(replace(spec, data_fingerprint="x"), c, t0, t1) is None
    assert "trained on" in (overlap_warning(replace(spec, data_fingerprint=c.fingerprint()),
                                            c, t0, t1) or "")
    spec2 = replace(spec, data_fingerprint="x", extra={"train_start": t0, "train_end": t0 + 1})
    assert "overlaps" in (overlap_warning(spec2, c, t0, t1) or "")
    assert overlap_warning(spec2, c, t0 + 10, t1) is None


def test_risk_engine_clamps_and_pauses(hand) -> None:
    from engine.config.schema import RiskSection

    _, spec, c, conv, k = hand
    # Orders capped at 100 notional; one losing trade pauses buys (REDUCING) for 12 bars.
    risk = RiskSection(max_position_pct=100.0, max_order_notional=100.0, daily_loss_pct=100.0,
                       max_consecutive_losses=1, pause_bars=12)
    pol = Scripted(spec, [[1.0, 0.0], [-1.0, 1.0], [0.0, 1.0]])
    r = backtest(cast(Policy, pol), c, conv, 100.0, lo=k, hi=k + 4, cost=0.01, risk=risk)
    a, b = r.per_ticker
    # A: buy 100 at 100 (1 share, fee 1); at 90 sell it for 90, fee 0.9: a loss -> pause.
    assert (a.buys, a.sells, a.wins) == (1, 1, 0)
    assert a.fees == pytest.approx(1.9) and a.pnl == pytest.approx(89.1 - 101.0)
    # B: the same bar's buy (checked before the sell filled) clamped to 100 at 50 = 2
    # shares, fee 1; bar 102's buy refused (reducing), so 2 shares marked at 60.
    assert (b.buys, b.sells) == (1, 0)
    assert b.fees == pytest.approx(1.0) and b.pnl == pytest.approx(120.0 - 101.0)
    assert r.equity[-1] == pytest.approx(1000.0 + a.pnl + b.pnl)


def test_terminal_chart(hand) -> None:
    from engine.reports.backtest import terminal_chart

    _, spec, c, conv, k = hand
    pol = Scripted(spec, [[1.0, 0.0], [-1.0, 1.0], [0.0, 0.0]])
    r = backtest(cast(Policy, pol), c, conv, 1.0, lo=k, hi=k + 4, cost=0.01)
    text = terminal_chart(r, 60, 12)
    assert "HODL" in text and len(text.splitlines()) >= 10
