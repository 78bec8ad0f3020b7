"""Deterministic client order ids and the clocks' bar arithmetic."""

from __future__ import annotations

import threading

from engine.trading.clock import RealClock, ReplayClock
from engine.trading.order_ids import client_order_id


def test_ids_are_deterministic_and_distinct() -> None:
    a = client_order_id("t", 1_700_000_100.0, "BTC-USD", 0)
    assert a == client_order_id("t", 1_700_000_100, "BTC-USD", 0) and len(a) == 36
    others = {client_order_id("t", 1_700_000_100, "BTC-USD", 1),
              client_order_id("t", 1_700_000_400, "BTC-USD", 0),
              client_order_id("t", 1_700_000_100, "ETH-USD", 0),
              client_order_id("u", 1_700_000_100, "BTC-USD", 0)}
    assert a not in others and len(others) == 4


def test_real_clock_bar_boundaries() -> None:
    now = [0.0]
    c = RealClock("5m", settle_delay_s=5, time_fn=lambda: now[0])
    now[0] = 1_000_000 * 300 + 300 + 5  # bar [.., +300) closed 5 s ago: ready
    assert c.last_closed_bar() == 1_000_000 * 300
    now[0] = 1_000_000 * 300 + 300 + 4  # not settled yet
    assert c.last_closed_bar() == 1_000_000 * 300 - 300
    assert c.next_ready_at() == 1_000_000 * 300 + 300 + 5


class _Fake:
    def __init__(self) -> None:
        self.t, self.left = 600.0, 2

    def now(self) -> float:
        return self.t

    def advance(self) -> bool:
        if not self.left:
            return False
        self.left -= 1
        self.t += 300
        return True


def test_replay_clock_advances_the_broker() -> None:
    b = _Fake()
    c = ReplayClock(b, "5m", replay_speed=1000)
    calls = []
    stop = threading.Event()
    assert c.last_closed_bar() == 300
    assert c.wait_next_bar(stop, lambda: calls.append(1), 0.01) and c.last_closed_bar() == 600
    assert c.wait_next_bar(stop, lambda: None, 0.01)
    assert not c.wait_next_bar(stop, lambda: None, 0.01)  # data exhausted
    assert calls
    stop.set()
    assert not c.wait_next_bar(stop, lambda: None, 0.01)


def test_real_clock_follows_the_exchange_through_a_machine_clock_step() -> None:
    """Between measurements the exchange's time runs on the monotonic clock: the machine's
    wall clock stepping an hour moves no bar; the next measurement sees the step as skew."""
    wall, mono = [1_000_000.0], [50.0]
    c = RealClock("5m", settle_delay_s=5, time_fn=lambda: wall[0], mono_fn=lambda: mono[0])
    assert c.measure_offset(lambda: 300_000_100.0) == 300_000_100.0 - 1_000_000.0
    bar = c.last_closed_bar()
    wall[0] += 3600.0  # the step
    mono[0] += 10.0    # ten real seconds
    assert c.now() == 300_000_110.0 and c.last_closed_bar() == bar
    assert c.measure_offset(lambda: 300_000_110.0) == 300_000_110.0 - 1_003_600.0
