"""Traders on the Coinbase and Alpaca fakes (the real SDK clients, in process), on a clock the
test drives: the fake exchange's time is pinned and the trader's machine clock reads a value
the test sets, so bars pass in milliseconds and a skew is exactly what the test says."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from conftest import FAST, build_model

from engine.brokers.factory import make_broker
from engine.config import Config
from engine.config.secrets import Secrets
from engine.trading.clock import RealClock
from engine.trading.policy import load_policy
from engine.trading.trader import Trader, TraderSettings
from store.db import Store
from tests.fakes import FakeAlpaca, FakeCoinbase

TICKERS = ("BTC-USD", "ETH-USD")
VENUES = ("coinbase", "alpaca")
P = 300
EXTRA = """
[env]
# The per-bar trade mapping: a saturated test model keeps trading every bar, which these
# tests need (the default target-weight mapping would reach its target and hold).
action_mapping = "delta"
max_trade_fraction = 0.5
[risk]
max_order_notional = 1000
max_position_pct = 60
daily_loss_pct = 2
[trader]
notify_fills = true
poll_s = 0.05
bar_wait_s = 0
clock_check_s = 0.2
[execution]
max_reprices = 1
reprice_after_s = 10
"""


def venue_config(make_config: Callable[..., Config], venue: str, fake: object,
                 extra: str = "") -> Config:
    if venue == "coinbase":
        url = f'[coinbase]\nbase_url = "{fake.host_port}"\n'  # type: ignore[attr-defined]
        url += "live_armed = true\ntimeout_s = 5\nretry_initial_s = 0.01\nretry_max_s = 0.05\n"
    else:
        base = fake.base_url  # type: ignore[attr-defined]
        url = (f'[alpaca]\nurl_override = "{base}"\ndata_url_override = "{base}"\n'
               "timeout_s = 5\nretry_initial_s = 0.01\nretry_max_s = 0.05\n")
    cfg = make_config(FAST + EXTRA + extra + url)
    cfg = cfg.model_copy(update={"conviction": cfg.conviction.model_copy(
        update={"enabled": False})})
    return cfg.model_copy(update={"trader": cfg.trader.model_copy(
        update={"tickers": list(TICKERS)})})


def secrets_for(venue: str, key: tuple[str, str, str] | None) -> Secrets:
    if venue == "coinbase":
        assert key is not None
        return Secrets(coinbase_api_key=key[0], coinbase_api_secret=key[1])
    return Secrets(alpaca_api_key="PKTEST", alpaca_secret_key="s3cret")


def candle_close(at: float) -> float:
    """The fakes' generated candles: close of the candle starting at `at`."""
    return 100.0 + (int(at) // P) % 50 + 0.5


@dataclass
class Desk:
    """One fake exchange, one store, a driven clock, and the traders on them."""
    venue: str
    fake: FakeCoinbase | FakeAlpaca
    cfg: Config
    secrets: Secrets
    tmp: Path
    machine: list[float] = field(default_factory=lambda: [0.0])  # the machine's clock
    skew: float = 0.0                                            # exchange - machine

    def start(self) -> None:
        # 10 s after a bar closed, at the foot of the fakes' 50-bar price ramp (prices rise
        # 1% a bar for the length of a test: no real daily loss to hide a spurious one).
        first = math.floor(time.time() / P) * P - 200 * P
        first -= (first // P) % 50 * P
        t0 = first + P + 10
        self.set_time(t0)

    def set_time(self, t: float) -> None:
        self.machine[0] = t
        self.fake.set_time(t + self.skew)
        self.quote(self.exchange_bar())

    def exchange_bar(self) -> float:
        return math.floor((self.machine[0] + self.skew - 5) / P) * P - P

    def quote(self, bar: float) -> None:
        c = candle_close(bar)
        bid, ask = f"{c - 0.01:.2f}", f"{c + 0.01:.2f}"
        with self.fake.lock:
            for t in TICKERS:
                key = t if self.venue == "coinbase" else t.replace("-", "/")
                self.fake.quotes[key] = (bid, ask)

    def next_bar(self) -> None:
        self.set_time(self.machine[0] + P)

    def trader(self, name: str = "t", capital: float = 1000, model: Path | None = None,
               register: bool = True) -> Trader:
        """A trader as `cappuccino trade` builds it (register=False: as it stands before its
        start-up checks, which come before its row is written)."""
        cfg = self.cfg
        model = model or self.tmp / "model"
        if not model.exists():
            build_model(model, cfg, TICKERS, scale=100)
        policy = load_policy([model], tickers=TICKERS, timeframe="5m", features=None,
                             env=cfg.env.model_dump())
        broker = make_broker(cfg, self.secrets, self.venue, self.tmp / name)
        # The machine's time is this harness's only clock: it runs the monotonic one too.
        clock = RealClock("5m", 5.0, time_fn=lambda: self.machine[0],
                          mono_fn=lambda: self.machine[0])
        settings = TraderSettings(name, self.venue, "paper", str(model), None, None, TICKERS,
                                  "5m", Decimal(str(capital)))
        t = Trader(cfg, Store(cfg.store.path), broker, clock, policy, settings)
        if register:
            t.register()
            t.check_clock()
        return t

    def fill_open(self, prefix_ids: set[str] | None = None) -> int:
        """Fill every resting order (of these client ids, if given) at its limit."""
        n = 0
        with self.fake.lock:
            orders = list(self.fake.orders)
        for o in orders:
            cid = o["client_order_id"]
            status = o["status"]
            if status not in ("OPEN", "new", "partially_filled"):
                continue
            if prefix_ids is not None and cid not in prefix_ids:
                continue
            self.fake.fill(cid)
            n += 1
        return n

    def account_qty(self, base: str) -> Decimal:
        if isinstance(self.fake, FakeCoinbase):
            b = self.fake.balances.get(base, {"available": "0"})
            return Decimal(b["available"])
        return self.fake.positions.get(f"{base}/USD", Decimal(0))

    def account_usd(self) -> Decimal:
        if isinstance(self.fake, FakeCoinbase):
            return Decimal(self.fake.balances["USD"]["available"])
        return self.fake.cash


def trade_bars(d: Desk, traders: list[Trader], n: int, check: Callable[[], None] = lambda: None,
               fill: bool = True) -> None:
    for _ in range(n):
        d.next_bar()
        for t in traders:
            t.step(t.clock.last_closed_bar())
        if fill:
            d.fill_open()
        for t in traders:
            t.poll()  # the maker fills are booked between bars, not a bar later
        check()


def own_qty(t: Trader, ticker: str) -> Decimal:
    """What the trader's own fills built."""
    return t.book.qty(ticker)
