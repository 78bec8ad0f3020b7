"""Clocks for the trader loop. Only the broker and the clock differ between live and replay.

- RealClock: the exchange's time: the machine's wall time plus the offset the trader last
  measured against the exchange (`measure_offset`). A bar is processed `settle_delay_s` after
  it closes on the exchange's clock, so the exchange has published it; bar times, order ages
  and re-pricing all follow the exchange, whatever the machine's clock says.
- ReplayClock: drives a replaying broker (SimBroker). Each `wait_next_bar` sleeps
  1/replay_speed seconds of wall time, then reveals the next bar. Sim time lives in the
  broker's own state file, so a restarted trader continues where the sim stopped.

`last_closed_bar()` is the start time of the most recent closed bar; the trader processes
each such bar once (it records `last_bar_at`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

TIMEFRAME_S = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200,
               "6h": 21600, "1d": 86400}


def timeframe_seconds(timeframe: str) -> int:
    try:
        return TIMEFRAME_S[timeframe]
    except KeyError:
        raise ValueError(f"unknown timeframe {timeframe!r}; expected one of "
                         f"{', '.join(TIMEFRAME_S)}") from None


class Clock(Protocol):
    period: int

    def now(self) -> float: ...

    def last_closed_bar(self) -> float: ...

    def wait_next_bar(self, stop: threading.Event, service: Callable[[], None],
                      poll_s: float) -> bool:
        """Block until the next bar may be processed, calling `service` every `poll_s`.
        Returns False when no further bar will come (replay data exhausted) or on stop."""
        ...


class RealClock:
    """Between two measurements the exchange's time runs on the monotonic clock from the last
    one: a step of the machine's wall clock (NTP, a resumed VM, `date -s`) must not make the
    trader decide a bar from an hour ahead, and then none for that hour once the clock is
    back. The next measurement reports the step as skew (and halts above clock_halt_s)."""

    def __init__(self, timeframe: str, settle_delay_s: float = 5.0,
                 time_fn: Callable[[], float] = time.time,
                 mono_fn: Callable[[], float] = time.monotonic) -> None:
        self.period = timeframe_seconds(timeframe)
        self.settle = settle_delay_s
        self._time = time_fn
        self._mono = mono_fn
        self.offset_s = 0.0          # exchange time - machine time, last measured
        self._anchor: tuple[float, float] | None = None  # (exchange time, monotonic) then

    def local(self) -> float:
        return self._time()

    def now(self) -> float:
        if self._anchor is None:
            return self._time() + self.offset_s
        return self._anchor[0] + (self._mono() - self._anchor[1])

    def measure_offset(self, exchange_now: Callable[[], float]) -> float:
        """Ask the exchange for its time; the offset is taken against the middle of the
        round trip. Returns (and adopts) exchange - machine in seconds."""
        t0, m0 = self._time(), self._mono()
        ex = exchange_now()
        t1, m1 = self._time(), self._mono()
        self.offset_s = ex - (t0 + t1) / 2
        self._anchor = (ex, (m0 + m1) / 2)
        return self.offset_s

    def last_closed_bar(self) -> float:
        # A bar [s, s+period) counts as closed once now >= s + period + settle.
        t = self.now() - self.settle
        return math.floor(t / self.period) * self.period - self.period

    def next_ready_at(self) -> float:
        return self.last_closed_bar() + 2 * self.period + self.settle

    def wait_next_bar(self, stop: threading.Event, service: Callable[[], None],
                      poll_s: float) -> bool:
        target = self.next_ready_at()
        while not stop.is_set():
            left = target - self.now()
            if left <= 0:
                return True
            service()
            stop.wait(min(poll_s, max(left, 0.0)))
        return False


class Replayable(Protocol):
    def now(self) -> float: ...

    def advance(self) -> bool: ...


class ReplayClock:
    """Sim time = the close time of the last revealed bar (the broker's clock)."""

    def __init__(self, broker: Replayable, timeframe: str, replay_speed: float) -> None:
        self.period = timeframe_seconds(timeframe)
        self.broker = broker
        # 0 means real time: one bar per bar period of wall time.
        self.wall_per_bar = 1.0 / replay_speed if replay_speed > 0 else float(self.period)

    def now(self) -> float:
        return self.broker.now()

    def last_closed_bar(self) -> float:
        return self.broker.now() - self.period

    def wait_next_bar(self, stop: threading.Event, service: Callable[[], None],
                      poll_s: float) -> bool:
        deadline = time.monotonic() + self.wall_per_bar
        while not stop.is_set():
            service()
            left = deadline - time.monotonic()
            if left <= 0:
                return self.broker.advance()
            stop.wait(min(poll_s, left))
        return False
