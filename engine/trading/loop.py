"""The trader's loop: bar by bar until stopped, with the guards between bars (a mixin of
Trader). A bar that fails on a broker error is retried with backoff (longer after a 429); a
credentials refusal halts instead (engine.trading.guards)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from engine.brokers.base import BrokerError
from engine.brokers.retry import BrokerCallError
from engine.data.candles import DataError
from engine.trading.guards import Guards

log = logging.getLogger("cappuccino.trading.trader")


class Loop(Guards):
    def run(self, stop: threading.Event, tick: Callable[[], None] = lambda: None) -> None:
        """Trade bar by bar until `stop`. `tick` tells the heartbeat the loop is alive."""
        self._tick, self._stop = tick, stop
        self.register()
        self.current_bar = self.last_bar_at  # intents a crash left unsent get sent by poll()
        failures = 0
        while not stop.is_set():
            tick()
            try:
                self._probe_auth()
                if self.risk.s.auth_reason:
                    stop.wait(self.cfg.trader.poll_s)
                    continue
                self._housekeeping()
            except BrokerError as e:
                if not self._on_broker_error(e):
                    log.warning("%s: clock/account check failed: %s", self.name, e)
                    self._next_clock_check = time.monotonic() + self.cfg.trader.poll_s * 10
                continue
            bar = self.clock.last_closed_bar()
            if self.last_bar_at is None or bar > self.last_bar_at:
                try:
                    self.current_bar = bar
                    self.executor.send_new(bar)  # resume intents a crash left unsent
                    self.step(bar)
                    failures = 0
                except BrokerError as e:
                    if self._on_broker_error(e):
                        continue
                    failures += 1
                    rate = isinstance(e, BrokerCallError) and e.kind == "rate_limited"
                    wait = min(60.0, self.cfg.trader.poll_s * 2 ** min(failures + rate, 6))
                    log.warning("%s: bar %s failed (%s); retrying in %.0fs", self.name, bar, e,
                                wait)
                    stop.wait(wait)
                    continue
                except DataError as e:
                    log.warning("%s: bar %s skipped: %s", self.name, bar, e)
                    self.last_bar_at = bar
                continue
            try:
                more = self.clock.wait_next_bar(stop, self._safe_poll, self.cfg.trader.poll_s)
            except BrokerError as e:
                if not self._on_broker_error(e):
                    log.warning("%s: clock/broker error: %s", self.name, e)
                stop.wait(self.cfg.trader.poll_s)
                continue
            if not more and not stop.is_set():
                # Replay data exhausted: stay up (halt flags, SIGTERM) instead of exiting and
                # being restarted by the supervisor over and over.
                log.info("%s: no more bars (replay data exhausted); idle", self.name)
                while not stop.is_set():
                    self._safe_poll()
                    stop.wait(self.cfg.trader.poll_s)

    def _safe_poll(self) -> None:
        self._tick()  # polls run between bars: the loop is waiting, not hung
        try:
            self._probe_auth()
            self.poll()
            if not self.risk.s.auth_reason:
                self._housekeeping()
        except BrokerError as e:
            if not self._on_broker_error(e):
                log.warning("%s: poll failed: %s", self.name, e)
