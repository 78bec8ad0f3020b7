"""SIGKILL a real `cappuccino trade` process on the Coinbase and Alpaca fakes (the real SDK
clients over HTTP on 127.0.0.1) at random points, round after round, and restart it (issue 13):
no order is placed twice, each bar is decided once, the book's positions equal what the
exchange holds for it, and no HALT appears that the market did not call for.

The fake exchange's clock runs SPEED x faster than the machine's (a bar every 300/SPEED s) and
a market thread fills resting orders, so every life of the trader sees bars, orders and fills.
The fakes live in the source checkout (tests/fakes) and need the test extras (PyJWT,
cryptography): `cappuccino soak --trading-kill-rounds R` says so in one line without them.
"""

from __future__ import annotations

import math
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

from engine.soak.workdir import ROOT, TICKERS, child_env, tail, tiny_model
from store.db import Store, StoreError
from store.fixtures import (
    alert_messages,
    decided_bars,
    decision_count,
    fill_sides,
    order_keys,
    outbox_bodies,
    position_qty,
)

VENUES = ("coinbase", "alpaca")
SPEED = 150.0                      # a 5-minute bar every 2 s
P = 300
ROUND_WAIT_S = 60.0                # a round's trader must decide a new bar within this
CONFIG = """
[data]
source = "synthetic"
synthetic_bars = 3000
[features]
lookback = 2
norm_window = 20
[conviction]
enabled = false
volatility_window = 20
momentum_window = 12
[env]
action_mapping = "delta"  # a saturated test model then trades every bar
max_trade_fraction = 0.3
[risk]
max_order_notional = 400
max_position_pct = 60
daily_loss_pct = 50
stale_periods = 30
[trader]
poll_s = 0.05
settle_delay_s = 1
notify_fills = true
bar_wait_s = 0
clock_check_s = 0.1
clock_warn_s = 1e12
clock_halt_s = 1e12
[execution]
max_reprices = 2
reprice_after_s = 120
"""


class FakesMissing(Exception):
    """The exchange fakes cannot be loaded here (an installed wheel, or no test extras)."""


def load_fakes() -> Any:
    """The tests.fakes package of the source checkout."""
    try:
        import tests.fakes as fakes
        import tests.fakes.fake_coinbase  # noqa: F401  (make_ec_key, KEY_NAME)
    except ImportError as e:
        raise FakesMissing(
            f"the exchange fakes cannot be loaded ({e}): run it from a source checkout with "
            "the test extras (bash .ci/setup --test)") from None
    return fakes


def candle_close(at: float) -> float:
    """The fakes' generated candles: close of the candle starting at `at`."""
    return 100.0 + (int(at) // P) % 50 + 0.5


class Market(threading.Thread):
    """Moves the fake's quotes with its candles and fills resting orders now and then. A bad
    day (the soak's): `partial_p` of those fills partial (the rest then mostly waits for its
    re-price or cancel), and on Alpaca `cross_p` of the limits meet a market that moved as
    they arrive (filled at once, as takers)."""

    def __init__(self, fake: Any, seed: int, coinbase: bool, fill_p: float = 0.3,
                 partial_p: float = 0.0, cross_p: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.fake, self.rng, self.halt = fake, random.Random(seed), threading.Event()
        self.coinbase, self.fill_p = coinbase, fill_p   # chance a resting order fills a tick
        self.partial_p = partial_p                      # chance such a fill is partial
        if not coinbase and cross_p > 0:
            fake.arrival_cross = [self.rng.choice(("better", "at")) if self.rng.random()
                                  < cross_p else None for _ in range(10_000)]

    def run(self) -> None:
        while not self.halt.wait(0.1):
            bar = math.floor(self.fake.now() / P) * P - P
            c = candle_close(bar)
            with self.fake.lock:
                for t in TICKERS:
                    self.fake.quotes[t if self.coinbase else t.replace("-", "/")] = (
                        f"{c - 0.01:.2f}", f"{c + 0.01:.2f}")
                open_ids = [o["client_order_id"] for o in self.fake.orders
                            if o["status"] in ("OPEN", "new", "partially_filled")]
                part = {o["client_order_id"] for o in self.fake.orders
                        if o["status"] == "partially_filled" or (
                            o["status"] == "OPEN" and Decimal(o.get("filled_size") or 0) > 0)}
            for cid in open_ids:
                # a partly filled order mostly waits for its re-price or the next bar's cancel
                if self.rng.random() < self.fill_p / (10 if cid in part else 1):
                    self._fill(cid)

    def _fill(self, cid: str) -> None:
        with self.fake.lock:
            o = self.fake.order_by_client(cid)
            if self.coinbase:
                size = next(iter(o["order_configuration"].values()))["base_size"]
                left = Decimal(size) - Decimal(o["filled_size"])
            else:
                left = Decimal(o["qty"]) - Decimal(o["filled_qty"])
            part = (left / 2).quantize(Decimal("0.0001"), ROUND_DOWN)
            if self.rng.random() < self.partial_p and 0 < part < left:
                self.fake.fill(cid, str(part))
            else:
                self.fake.fill(cid)


@dataclass(frozen=True)
class VenueRun:
    venue: str
    rounds: int
    orders: int
    fills: int
    decisions: int
    findings: tuple[str, ...]


def _decisions(db: Path) -> int:
    """Decision rows so far; 0 before the trader has made the store (never creates it)."""
    try:
        with Store(db, create=False, check=False, busy_timeout_s=5) as s:
            return decision_count(s)
    except (StoreError, sqlite3.Error):
        return 0


def _account_qty(fake: Any, coinbase: bool) -> dict[str, Decimal]:
    if coinbase:
        return {t: Decimal(fake.balances.get(t.split("-")[0], {"available": "0"})["available"])
                for t in TICKERS}
    return {t: fake.positions.get(t.replace("-", "/"), Decimal(0)) for t in TICKERS}


def run_venue_kills(root: Path, venue: str, rounds: int, seed: int = 99,
                    say: Callable[[str], None] = lambda _: None) -> VenueRun:
    """`rounds` SIGKILLs of a trader on the venue's fake, then a clean SIGTERM run; findings."""
    fakes = load_fakes()
    from engine.config import load_config

    coinbase = venue == "coinbase"
    root.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in child_env().items() if not k.startswith(("COINBASE_", "APCA_"))}
    if coinbase:
        priv, pub = fakes.fake_coinbase.make_ec_key()
        fake = fakes.FakeCoinbase(public_key_pem=pub)
        env.update(COINBASE_API_KEY=fakes.fake_coinbase.KEY_NAME, COINBASE_API_SECRET=priv)
    else:
        fake = fakes.FakeAlpaca()
        env.update(APCA_API_KEY_ID="PKTEST", APCA_API_SECRET_KEY="s3cret")
    log = root / "trader.log"
    with fake:
        text = (f'[coinbase]\nbase_url = "{fake.host_port}"\nlive_armed = true\n' if coinbase
                else f'[alpaca]\nurl_override = "{fake.base_url}"\n'
                     f'data_url_override = "{fake.base_url}"\n')
        cfg_path = root / "cappuccino.toml"
        cfg_path.write_text(CONFIG + text + "timeout_s = 5\nretry_initial_s = 0.01\n"
                            "retry_max_s = 0.2\n")
        cfg = load_config(cfg_path, environ={})
        tiny_model(root / "model", cfg)
        db = Path(cfg.store.path)
        first = math.floor(time.time() / P) * P - 400 * P
        fake.accelerate(first - (first // P) % 50 * P + P + 10, SPEED)
        start_qty = _account_qty(fake, coinbase)
        market = Market(fake, seed=7, coinbase=coinbase, partial_p=0.5, cross_p=0.2)
        market.start()
        rng = random.Random(seed)
        argv = [sys.executable, "-m", "engine.cli.main", "--config", str(cfg_path), "trade",
                "--name", "t", "--model", str(root / "model"), "--broker", venue,
                "--tickers", ",".join(TICKERS), "--capital", "1000"] + (
                    ["--live"] if coinbase else [])

        def start() -> subprocess.Popen[bytes]:
            with log.open("ab") as err:
                return subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=err)

        def run_until(p: subprocess.Popen[bytes], more: int) -> bool:
            before = _decisions(db)
            deadline = time.monotonic() + ROUND_WAIT_S
            while (_decisions(db) <= before + more
                   and p.poll() is None and time.monotonic() < deadline):
                time.sleep(0.02)
            return p.poll() is None

        try:
            for k in range(rounds):
                p = start()
                if not run_until(p, 0):
                    return _ended(venue, k, f"round {k + 1}: the trader exited "
                                  f"({p.returncode}) or decided nothing:\n{tail(log)}")
                time.sleep(rng.uniform(0.0, 2.5))  # anywhere in or between bars
                p.send_signal(signal.SIGKILL)
                p.wait(10)
                say(f"soak: {venue} SIGKILL {k + 1}/{rounds}")
            # A last clean run: SIGTERM cancels open orders, books fills, exits 0.
            p = start()
            run_until(p, 2)
            market.halt.set()
            market.join(5)
            p.send_signal(signal.SIGTERM)
            p.wait(60)
            if p.returncode != 0:
                return _ended(venue, rounds, f"the last clean run exited {p.returncode}:\n"
                              f"{tail(log)}")
        finally:
            market.halt.set()
        return check(fake, coinbase, db, start_qty, venue, rounds)


def _ended(venue: str, rounds: int, finding: str) -> VenueRun:
    return VenueRun(venue, rounds, 0, 0, 0, (f"{venue}: {finding}",))


def check(fake: Any, coinbase: bool, db: Path, start_qty: dict[str, Decimal], venue: str,
          rounds: int) -> VenueRun:
    """What the store and the exchange say after the rounds, as findings."""
    found: list[str] = []
    s = Store(db, create=False, check=False)
    try:
        rows = {r[0]: r for r in order_keys(s, "t")}
        ex_ids = [o["client_order_id"] for o in fake.orders]
        if len(ex_ids) < 3:
            found.append(f"only {len(ex_ids)} orders reached the exchange: too few to prove "
                         "anything")
        if len(ex_ids) != len(set(ex_ids)):
            found.append("an order was placed twice")
        if not coinbase and any(fake.post_count(c) != 1 for c in ex_ids):
            found.append("an order was posted more than once (even a refused repeat)")
        if not set(ex_ids) <= set(rows):
            found.append("an exchange order has no intent row in the store")
        if rows and max(Counter((b, t, a) for _, b, t, a, _ in rows.values()).values()) > 1:
            found.append("two intents for one (bar, ticker, attempt)")
        decided = Counter(decided_bars(s, "t"))
        if decided and max(decided.values()) > 1:
            found.append("a bar was decided twice")
        if [r for r in rows.values() if r[4] in ("NEW", "OPEN", "PARTIAL")]:
            found.append("orders left open in the store after the clean stop")
        if [o for o in fake.orders if o["status"] in ("OPEN", "new", "partially_filled")]:
            found.append("orders left open on the exchange after the clean stop")
        # The store's fills are the exchange's fills of our orders, and the book's positions
        # are what the account gained (its starting coins are not ours).
        fills = fill_sides(s, "t")
        ex_fills = fake.fills if coinbase else fake.activities
        if len(fills) != len(ex_fills) or not fills:
            found.append(f"store fills {len(fills)} against exchange fills {len(ex_fills)}")
        now_qty = _account_qty(fake, coinbase)
        pos = {t: Decimal(q) for t, q in position_qty(s, "t").items()}
        for t in TICKERS:
            if pos.get(t, Decimal(0)) != now_qty[t] - start_qty[t]:
                found.append(f"{t}: book {pos.get(t, 0)} against the account's gain "
                             f"{now_qty[t] - start_qty[t]}")
        halts = [m for m in alert_messages(s)
                 if any(w in m for w in ("stale", "daily loss", "clock", "credentials", "HALT"))]
        states = [b for b in outbox_bodies(s, "trading_state")
                  if "HALTED" in b]
        found += [f"spurious halt: {m}" for m in halts + states]
    finally:
        s.close()
    return VenueRun(venue, rounds, len(ex_ids), len(fills), len(decided),
                    tuple(f"{venue}: {f}" for f in found))
