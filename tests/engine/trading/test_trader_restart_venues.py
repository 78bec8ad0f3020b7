"""SIGKILL a real `cappuccino trade` process on the Coinbase and the Alpaca fakes (the real SDK
clients over HTTP) at random points, many times, and restart it: no order is placed twice,
each bar is decided once, the book's positions equal what the exchange holds for it, and no
HALT appears that the market did not call for.

The fake exchange's clock runs SPEED x faster than the machine's (a bar every 300/SPEED s)
and a market thread fills resting orders, so every life of the trader sees bars, orders and
fills. Rounds per venue: ROUNDS (default 8 to keep CI within its 90 s budget; the issue's 20+
rounds: CAPPUCCINO_TEST_SOAK_ROUNDS=20)."""

from __future__ import annotations

import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import FAST, build_model  # noqa: E402
from venues import TICKERS, candle_close  # noqa: E402

from engine.config import load_config  # noqa: E402
from store.db import Store  # noqa: E402
from tests.fakes import FakeAlpaca, FakeCoinbase  # noqa: E402
from tests.fakes.fake_coinbase import KEY_NAME, make_ec_key  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
SPEED = 150.0                      # a 5-minute bar every 2 s
ROUNDS = int(os.environ.get("CAPPUCCINO_TEST_SOAK_ROUNDS", "8"))
CONFIG = FAST.replace("[conviction]\n", "[conviction]\nenabled = false\n") + """
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


class Market(threading.Thread):
    """Moves the fake's quotes with its candles and fills resting orders now and then."""

    def __init__(self, fake: FakeCoinbase | FakeAlpaca, seed: int) -> None:
        super().__init__(daemon=True)
        self.fake, self.rng, self.halt = fake, random.Random(seed), threading.Event()

    def run(self) -> None:
        coinbase = isinstance(self.fake, FakeCoinbase)
        while not self.halt.wait(0.1):
            bar = math.floor(self.fake.now() / 300) * 300 - 300
            c = candle_close(bar)
            with self.fake.lock:
                for t in TICKERS:
                    self.fake.quotes[t if coinbase else t.replace("-", "/")] = (
                        f"{c - 0.01:.2f}", f"{c + 0.01:.2f}")
                open_ids = [o["client_order_id"] for o in self.fake.orders
                            if o["status"] in ("OPEN", "new", "partially_filled")]
            for cid in open_ids:
                if self.rng.random() < 0.3:
                    self.fake.fill(cid)


def _start(cfg_path: Path, venue: str, env: dict[str, str]) -> subprocess.Popen:
    log = (cfg_path.parent / "trader.log").open("ab")
    argv = [sys.executable, "-m", "engine.cli.main", "--config", str(cfg_path), "trade",
            "--name", "t", "--model", str(cfg_path.parent / "model"), "--broker", venue,
            "--tickers", ",".join(TICKERS), "--capital", "1000"]
    if venue == "coinbase":
        argv.append("--live")
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)


def _count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return int(c.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _tail(tmp: Path) -> str:
    return (tmp / "trader.log").read_text(errors="replace")[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("venue", ["coinbase", "alpaca"])
def test_sigkill_loop_on_a_venue(tmp_path: Path, venue: str) -> None:
    priv, pub = make_ec_key()
    fake: FakeCoinbase | FakeAlpaca = (FakeCoinbase(public_key_pem=pub) if venue == "coinbase"
                                       else FakeAlpaca())
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CAPPUCCINO_", "COINBASE_", "APCA_"))}
    with fake:
        if venue == "coinbase":
            text = (f'[coinbase]\nbase_url = "{fake.host_port}"\nlive_armed = true\n'
                    "timeout_s = 5\nretry_initial_s = 0.01\nretry_max_s = 0.2\n")
            env.update(COINBASE_API_KEY=KEY_NAME, COINBASE_API_SECRET=priv)
        else:
            text = (f'[alpaca]\nurl_override = "{fake.base_url}"\n'
                    f'data_url_override = "{fake.base_url}"\ntimeout_s = 5\n'
                    "retry_initial_s = 0.01\nretry_max_s = 0.2\n")
            env.update(APCA_API_KEY_ID="PKTEST", APCA_API_SECRET_KEY="s3cret")
        cfg_path = tmp_path / "cappuccino.toml"
        cfg_path.write_text(CONFIG + text)
        cfg = load_config(cfg_path, environ={})
        build_model(tmp_path / "model", cfg, TICKERS, scale=100)
        db = Path(cfg.store.path)
        Store(db).close()
        first = math.floor(time.time() / 300) * 300 - 400 * 300
        fake.accelerate(first - (first // 300) % 50 * 300 + 310, SPEED)
        start_usd = fake.balances["USD"]["available"] if isinstance(fake, FakeCoinbase) \
            else fake.cash
        start_qty = _account_qty(fake)
        market = Market(fake, seed=7)
        market.start()
        rng = random.Random(99)
        try:
            for _ in range(ROUNDS):
                before = _count(db, "SELECT COUNT(*) FROM decisions")
                p = _start(cfg_path, venue, env)
                deadline = time.monotonic() + 60
                while (_count(db, "SELECT COUNT(*) FROM decisions") <= before
                       and p.poll() is None and time.monotonic() < deadline):
                    time.sleep(0.02)
                assert p.poll() is None, _tail(tmp_path)
                time.sleep(rng.uniform(0.0, 2.5))  # anywhere in or between bars
                p.send_signal(signal.SIGKILL)
                p.wait(10)
            # A last clean run: SIGTERM cancels open orders, books fills, exits 0.
            before = _count(db, "SELECT COUNT(*) FROM decisions")
            p = _start(cfg_path, venue, env)
            deadline = time.monotonic() + 60
            while (_count(db, "SELECT COUNT(*) FROM decisions") <= before + 2
                   and p.poll() is None and time.monotonic() < deadline):
                time.sleep(0.05)
            market.halt.set()
            market.join(5)
            p.send_signal(signal.SIGTERM)
            p.wait(60)
            assert p.returncode == 0, _tail(tmp_path)
        finally:
            market.halt.set()
        _check(fake, db, start_usd, start_qty, tmp_path)


def _account_qty(fake: FakeCoinbase | FakeAlpaca) -> dict[str, Decimal]:
    if isinstance(fake, FakeCoinbase):
        return {t: Decimal(fake.balances.get(t.split("-")[0], {"available": "0"})["available"])
                for t in TICKERS}
    return {t: fake.positions.get(t.replace("-", "/"), Decimal(0)) for t in TICKERS}


def _check(fake: FakeCoinbase | FakeAlpaca, db: Path, start_usd: object,
           start_qty: dict[str, Decimal], tmp: Path) -> None:
    s = sqlite3.connect(db)
    rows = {r[0]: r for r in s.execute(
        "SELECT client_order_id, bar_at, ticker, attempt, status FROM orders WHERE trader='t'")}
    ex_ids = [o["client_order_id"] for o in fake.orders]
    assert len(ex_ids) >= 3, "too few orders to prove anything:\n" + _tail(tmp)
    assert len(ex_ids) == len(set(ex_ids)), "an order was placed twice"
    if isinstance(fake, FakeAlpaca):
        assert all(fake.post_count(c) == 1 for c in ex_ids)  # not even a refused repeat
    assert set(ex_ids) <= set(rows)  # every exchange order has its intent row
    assert max(Counter((b, t, a) for _, b, t, a, _ in rows.values()).values()) == 1
    decided = Counter(s.execute("SELECT bar_at, ticker FROM decisions WHERE trader='t'"))
    assert max(decided.values()) == 1, "a bar was decided twice"
    assert not [r for r in rows.values() if r[4] in ("NEW", "OPEN", "PARTIAL")]
    open_at = [o for o in fake.orders if o["status"] in ("OPEN", "new", "partially_filled")]
    assert not open_at
    # The store's fills are the exchange's fills of our orders, and the book's positions are
    # what the account gained (its starting coins are not ours).
    fills = list(s.execute("SELECT ticker, side, qty FROM fills WHERE trader='t'"))
    ex_fills = fake.fills if isinstance(fake, FakeCoinbase) else fake.activities
    assert len(fills) == len(ex_fills) and fills
    now_qty = _account_qty(fake)
    pos = {t: Decimal(q) for t, q in s.execute("SELECT ticker, qty FROM positions "
                                                "WHERE trader='t'")}
    for t in TICKERS:
        assert pos.get(t, Decimal(0)) == now_qty[t] - start_qty[t], t
    # No HALT the market did not call for (stale data, daily loss, clock, credentials).
    halts = [m for (m,) in s.execute("SELECT message FROM alerts")
             if any(w in m for w in ("stale", "daily loss", "clock", "credentials", "HALT"))]
    assert not halts, halts
    states = [b for (b,) in s.execute("SELECT body FROM outbox WHERE event='trading_state'")]
    assert not [b for b in states if "HALTED" in b], states
    print(f"{type(fake).__name__}: {ROUNDS} SIGKILLs, {len(ex_ids)} orders, {len(fills)} fills, "
          f"{len(decided)} decisions, 0 duplicates")  # shown with pytest -s
