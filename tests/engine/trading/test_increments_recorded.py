"""A real `cappuccino trade` process records its broker's product increments at start, and
`cappuccino status --json` shows the positions it built on them.

Coinbase (the real SDK against the fake's products endpoint: `base_increment`,
`quote_increment`), Alpaca (the asset's `min_trade_increment`, `price_increment`) and the sim
(its own products). The fakes serve coarser steps than 8 decimals, so a position shown on the
8-decimal fallback would read differently."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import build_model  # noqa: E402
from venues import TICKERS  # noqa: E402

from engine.config import load_config  # noqa: E402
from engine.soak.venues import CONFIG, SPEED, Market  # noqa: E402
from tests.fakes import FakeAlpaca, FakeCoinbase  # noqa: E402
from tests.fakes.fake_coinbase import KEY_NAME, make_ec_key  # noqa: E402
from tests.fakes.trade_proc import clean_env, store_rows  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
# (ticker, base step, price step) each fake serves
STEPS = {"coinbase": {"BTC-USD": ("0.00001", "0.01"), "ETH-USD": ("0.0001", "0.05")},
         "alpaca": {"BTC-USD": ("0.0001", "0.5"), "ETH-USD": ("0.001", "0.1")}}


def _cli(cfg: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(cfg), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _venue(venue: str, stack: ExitStack, env: dict[str, str]) -> tuple[Any, str]:
    """(the started fake or None for the sim, the config lines that point at it)."""
    if venue == "coinbase":
        priv, pub = make_ec_key()
        cb = FakeCoinbase(public_key_pem=pub)
        stack.enter_context(cb)
        for t, (base, quote) in STEPS[venue].items():
            cb.products[t].update(base_increment=base, quote_increment=quote, base_min_size=base)
        env.update(COINBASE_API_KEY=KEY_NAME, COINBASE_API_SECRET=priv)
        return cb, (f'[coinbase]\nbase_url = "{cb.host_port}"\nlive_armed = true\n'
                    "timeout_s = 5\nretry_initial_s = 0.01\nretry_max_s = 0.2\n")
    if venue == "alpaca":
        al = FakeAlpaca()
        stack.enter_context(al)
        for t, (base, quote) in STEPS[venue].items():
            al.assets[t.replace("-", "/")].update(min_trade_increment=base, price_increment=quote,
                                                  min_order_size=base)
        env.update(APCA_API_KEY_ID="PKTEST", APCA_API_SECRET_KEY="s3cret")
        return al, (f'[alpaca]\nurl_override = "{al.base_url}"\n'
                    f'data_url_override = "{al.base_url}"\ntimeout_s = 5\n'
                    "retry_initial_s = 0.01\nretry_max_s = 0.2\n")
    return None, ""


@pytest.mark.parametrize("venue", ["coinbase", "alpaca", "sim"])
def test_trader_start_records_increments_and_status_shows_them(tmp_path: Path,
                                                                venue: str) -> None:
    env = clean_env()
    with ExitStack() as stack:
        fake, text = _venue(venue, stack, env)
        cfg_path = tmp_path / "cappuccino.toml"
        # the sim replays bars faster than real time (one [trader] table)
        cfg_path.write_text(CONFIG.replace("[trader]\n", "[trader]\nreplay_speed = 20\n")
                            if venue == "sim" else CONFIG + text)
        cfg = load_config(cfg_path, environ={})
        build_model(tmp_path / "model", cfg, TICKERS, scale=100)
        db = Path(cfg.store.path)
        argv = [sys.executable, "-m", "engine.cli.main", "--config", str(cfg_path), "trade",
                "--name", "t", "--model", str(tmp_path / "model"), "--broker", venue,
                "--tickers", ",".join(TICKERS), "--capital", "1000"]
        if venue == "coinbase":
            argv.append("--live")
        if fake is not None:  # bars every 2 s; a market thread fills resting orders
            first = math.floor(time.time() / 300) * 300 - 400 * 300
            fake.accelerate(first - (first // 300) % 50 * 300 + 310, SPEED)
            market = Market(fake, seed=3, coinbase=venue == "coinbase")
            market.start()
            stack.callback(market.halt.set)
        log = tmp_path / "trader.log"
        p = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=log.open("wb"))
        stack.callback(p.wait, 60)
        stack.callback(p.send_signal, signal.SIGTERM)
        deadline = time.monotonic() + 90  # a loaded 2-core machine: torch import, first bars
        held: list[tuple[Any, ...]] = []
        while time.monotonic() < deadline and p.poll() is None and not held:
            time.sleep(0.2)
            held = store_rows(db, "SELECT ticker, qty FROM positions WHERE trader = 't' "
                             "AND CAST(qty AS REAL) > 0")
        assert p.poll() is None and held, log.read_text(errors="replace")[-3000:]
    recorded = {r[0]: r[1:] for r in store_rows(
        db, "SELECT ticker, broker, base_increment, quote_increment FROM product_increments "
            "WHERE trader = 't'")}
    if venue == "sim":  # the simulator's own products: 8-decimal coins, cents above $10
        assert {t: r[:2] for t, r in recorded.items()} == {
            t: ("sim", "0.00000001") for t in TICKERS}
    else:
        assert recorded == {t: (venue, b, q) for t, (b, q) in STEPS[venue].items()}
    # Order sizing used the exchange's steps already (the broker's product, not this record):
    # every order the trader sent is on its increment, and none was refused for its size.
    orders = store_rows(db, "SELECT ticker, qty, status, reason FROM orders WHERE trader = 't'")
    assert orders
    for ticker, qty, status, reason in orders:
        assert Decimal(qty) % Decimal(recorded[ticker][1]) == 0, (ticker, qty)
        assert not (status == "REJECTED" and "size" in (reason or "")), (ticker, qty, reason)
    out = _cli(cfg_path, env, "status", "--json")
    assert out.returncode == 0, out.stderr
    (trader,) = json.loads(out.stdout)["traders"]
    shown = {pos["ticker"]: pos for pos in trader["positions"]}
    assert shown
    for ticker, pos in shown.items():
        inc = recorded[ticker][1]
        assert pos["qty_increment"] == inc
        assert Decimal(pos["qty"]) % Decimal(str(inc)) == 0
        stored = dict(store_rows(db, "SELECT ticker, qty FROM positions WHERE trader = 't'"))
        assert Decimal(pos["qty"]) <= Decimal(str(stored[ticker]))
