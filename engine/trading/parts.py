"""What the trader's mixins (engine.trading.guards, engine.trading.loop) use of the Trader,
declared once so the type checker sees it; Trader.__init__ sets every attribute and
engine.trading.trader defines the methods."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.brokers.base import Broker
    from engine.config import Config
    from engine.trading.clock import Clock
    from engine.trading.execution import Executor
    from engine.trading.risk import RiskEngine
    from engine.trading.trader import TraderSettings
    from store.db import Store


class TraderParts:
    cfg: Config
    store: Store
    broker: Broker
    clock: Clock
    s: TraderSettings
    name: str
    period: int
    risk: RiskEngine
    executor: Executor
    equity: Decimal
    last_bar_at: float | None
    current_bar: float | None
    _tick: Callable[[], None]
    _stop: threading.Event
    _next_clock_check: float      # monotonic time of the next clock/account audit
    _clock_level: str
    _audit_last: list[str] | None
    _next_auth_probe: float
    _auth_failures: int

    def register(self) -> None:
        raise NotImplementedError

    def step(self, bar_at: float) -> None:
        raise NotImplementedError

    def poll(self) -> None:
        raise NotImplementedError

    def sync_fills(self) -> None:
        raise NotImplementedError

    def _on_state_change(self, state: str, reason: str) -> None:
        raise NotImplementedError
