"""The exchange's newest candle is still forming (both venues show it, as the fakes do): the
broker keeps a candle only once it has closed on the trader's clock, the exchange's time run
on the monotonic clock. A step of the machine's wall clock between two clock checks must not
move that cutoff: forward, the candle in progress was taken as closed; back, the candle that
had just closed was dropped and the trader decided nothing for that bar."""

from __future__ import annotations

import math
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import build_model  # noqa: E402
from venues import TICKERS, Desk, P  # noqa: E402

from engine.brokers.factory import make_broker  # noqa: E402
from engine.trading.clock import RealClock  # noqa: E402
from engine.trading.policy import load_policy  # noqa: E402
from engine.trading.trader import Trader, TraderSettings  # noqa: E402
from store.db import Store  # noqa: E402


def trader_at(d: Desk, after_close_s: float) -> tuple[Trader, float]:
    """A trader on the machine's wall clock (time.time, which the test steps) and a monotonic
    clock held still (the exchange's clock is pinned too, so a loaded machine moves nothing),
    against a fake exchange pinned `after_close_s` after its newest closed
    bar closed. Returns the trader and that bar's start."""
    last = math.floor(time.time() / P) * P - 2 * P
    d.fake.set_time(last + P + after_close_s)
    model = build_model(d.tmp / "model", d.cfg, TICKERS, scale=100)
    policy = load_policy([model], tickers=TICKERS, timeframe="5m", features=None,
                         env=d.cfg.env.model_dump())
    broker = make_broker(d.cfg, d.secrets, d.venue, d.tmp / "t")
    clock = RealClock("5m", 5.0, time_fn=lambda: time.time(), mono_fn=lambda: 0.0)
    settings = TraderSettings("t", d.venue, "paper", str(model), None, None, TICKERS, "5m",
                              Decimal(1000))
    t = Trader(d.cfg, Store(d.cfg.store.path), broker, clock, policy, settings)
    t.register()
    t.check_clock()   # the trader measures the exchange's clock (a skew here is no matter)
    assert clock.last_closed_bar() == last
    return t, last


@pytest.fixture
def shifted(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The machine's wall clock, stepped by the seconds in the list (the monotonic clock is
    left alone, as on a real step: NTP, a resumed VM, `date -s`)."""
    shift = [0.0]
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + shift[0])
    return shift


def test_a_forward_step_takes_no_forming_candle_as_closed(desk: Desk,
                                                          shifted: list[float]) -> None:
    # 1 s before the candle in progress closes, the machine's clock steps 4 s ahead (a
    # small step: Coinbase refuses a JWT from more than a few seconds in the future).
    t, last = trader_at(desk, P - 1)
    shifted[0] = 4
    for ticker in TICKERS:
        bars = t.broker.bars(ticker, last - 3 * P, last + 3 * P, "5m")
        assert [b.start for b in bars][-2:] == [last - P, last], (
            f"{desk.venue} {ticker}: the candle at {last + P} is still forming on the "
            f"exchange's clock; got {[b.start - last for b in bars]}")


def test_a_backward_step_still_decides_the_newest_bar(desk: Desk, shifted: list[float]) -> None:
    t, last = trader_at(desk, 10)
    shifted[0] = -60                     # the machine's clock a minute back (above the settle)
    assert t.clock.last_closed_bar() == last  # the trader's clock runs on: the same bar
    _, missing, newest = t.fetch_history(last)
    assert newest == last, (f"{desk.venue}: the closed candle at {last} was dropped "
                            f"(newest {newest}, {missing} missing)")
