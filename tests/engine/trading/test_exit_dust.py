"""`cappuccino exit` ends when what is left cannot be sold: a real `cappuccino trade` process on
the Coinbase fake (the real SDK over HTTP), whose sells fill partly and leave a remainder
below the product's minimum size (as a venue's partial fills do). The exit must finish (the
request cleared, the trader ACTIVE again, an alert naming the remainder), not hold the trader
REDUCING forever, refusing the same dust every bar.
"""

from __future__ import annotations

import subprocess
import sys
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
from tests.fakes.trade_proc import (  # noqa: E402
    clean_env,
    live_coinbase,
    replay_start,
    start_trader,
    store_rows,
    trade_argv,
    wait_while_alive,
)

ROOT = Path(__file__).resolve().parents[3]
MIN_SIZE = Decimal("0.001")
DUST = Decimal("0.0005")      # what every partly filled sell leaves: below MIN_SIZE


class DustMarket(Market):
    """Fills buys in full; fills each sell but for DUST."""

    def run(self) -> None:
        fake = self.fake
        while not self.halt.wait(0.1):
            with fake.lock:
                for t in TICKERS:
                    fake.quotes[t] = ("120.00", "120.02")
                open_orders = [dict(o) for o in fake.orders if o["status"] == "OPEN"]
            for o in open_orders:
                conf = next(iter(o["order_configuration"].values()))
                left = Decimal(conf["base_size"]) - Decimal(o["filled_size"])
                if o["side"] == "BUY":
                    fake.fill(o["client_order_id"])
                elif left > DUST:
                    fake.fill(o["client_order_id"], size=str(left - DUST))


@pytest.mark.slow
def test_exit_ends_when_only_dust_below_the_minimum_is_left(tmp_path: Path) -> None:
    env = clean_env()
    with ExitStack() as stack:
        cfg_path = tmp_path / "cappuccino.toml"
        fake = live_coinbase(stack, env, cfg_path, CONFIG)
        for t in TICKERS:
            fake.products[t].update(base_increment="0.00001", base_min_size=str(MIN_SIZE))
        cfg = load_config(cfg_path, environ={})
        build_model(tmp_path / "model", cfg, TICKERS, scale=100)
        db = Path(cfg.store.path)
        fake.accelerate(*replay_start(SPEED))
        market = DustMarket(fake, seed=1, coinbase=True)
        market.start()
        stack.callback(market.halt.set)
        log = tmp_path / "trader.log"
        p = start_trader(stack, trade_argv(cfg_path, tmp_path / "model", "coinbase", TICKERS,
                                           live=True), env, log)

        def wait_for(cond: Any, timeout: float) -> Any:
            return wait_while_alive(p, cond, timeout)

        held = wait_for(lambda: store_rows(db, "SELECT ticker, qty FROM positions WHERE trader = "
                                          f"'t' AND CAST(qty AS REAL) > {2 * MIN_SIZE}"), 90)
        assert held, log.read_text(errors="replace")[-3000:]
        out = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config",
                              str(cfg_path), "exit", "--trader", "t"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        sells_before = len(store_rows(db, "SELECT 1 FROM orders WHERE side = 'SELL'"))
        # Sold down to the dust, then done: the request is cleared and the trader trades again.
        done = wait_for(lambda: not store_rows(db, "SELECT 1 FROM kv WHERE key LIKE 'exit_request.%'")
                        and store_rows(db, "SELECT 1 FROM alerts WHERE message LIKE "
                                      "'operator exit done%'"), 60)
        assert done, ("the exit never ended: " + str(store_rows(
            db, "SELECT trading_state FROM traders")) + "\n"
            + log.read_text(errors="replace")[-2000:])
        left = dict(store_rows(db, "SELECT ticker, qty FROM positions WHERE trader = 't'"))
        assert all(Decimal(q) < MIN_SIZE for q in left.values()), left
        assert any(Decimal(q) > 0 for q in left.values()), "no dust: the test proves nothing"
        (alert,) = store_rows(db, "SELECT message FROM alerts WHERE message LIKE "
                             "'operator exit done%'")
        assert all(t in alert[0] for t, q in left.items() if Decimal(q) > 0), alert
        assert len(store_rows(db, "SELECT 1 FROM orders WHERE side = 'SELL'")) > sells_before, \
            "the exit sold nothing"
        assert wait_for(lambda: store_rows(db, "SELECT 1 FROM traders WHERE name = 't' AND "
                                          "trading_state != 'REDUCING'"), 30)
        assert p.poll() is None, log.read_text(errors="replace")[-3000:]
