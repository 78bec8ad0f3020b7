"""`cappuccino halt` stops an order that is in flight: a real `cappuccino trade` process on the
Coinbase and the Alpaca fakes (the real SDK clients over HTTP) has its order post answered
429 with a Retry-After; the operator halts the trader while the client waits; the order must
never reach the exchange afterwards (the retry asks first whether it may still send).
"""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import ExitStack
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
    paper_alpaca,
    replay_start,
    start_trader,
    store_rows,
    trade_argv,
    wait_while_alive,
)

ROOT = Path(__file__).resolve().parents[3]
RETRY_AFTER_S = 12          # the venue's wait: the halt CLI lands well inside it
CREATE = {"coinbase": "/api/v3/brokerage/orders$", "alpaca": "/v2/orders$"}


def _venue(venue: str, stack: ExitStack, env: dict[str, str], cfg_path: Path) -> Any:
    if venue == "coinbase":
        return live_coinbase(stack, env, cfg_path, CONFIG)
    return paper_alpaca(stack, env, cfg_path, CONFIG)


def _posted_ids(fake: Any, venue: str) -> list[str]:
    path = CREATE[venue][:-1]
    with fake.lock:
        return [str((r.body or {}).get("client_order_id")) for r in fake.requests
                if r.method == "POST" and r.path == path]


@pytest.mark.slow
@pytest.mark.parametrize("venue", ["coinbase", "alpaca"])
def test_halt_stops_an_order_waiting_out_a_429(tmp_path: Path, venue: str) -> None:
    env = clean_env()
    with ExitStack() as stack:
        cfg_path = tmp_path / "cappuccino.toml"
        fake = _venue(venue, stack, env, cfg_path)
        cfg = load_config(cfg_path, environ={})
        build_model(tmp_path / "model", cfg, TICKERS, scale=100)
        db = Path(cfg.store.path)
        fake.accelerate(*replay_start(SPEED))
        market = Market(fake, seed=3, coinbase=venue == "coinbase")
        market.start()
        stack.callback(market.halt.set)
        log = tmp_path / "trader.log"
        p = start_trader(stack, trade_argv(cfg_path, tmp_path / "model", venue, TICKERS,
                                           live=venue == "coinbase"), env, log)

        def wait_for(cond: Any, timeout: float) -> Any:
            return wait_while_alive(p, cond, timeout, poll_s=0.05)

        # Trading: its first order reached the exchange.
        assert wait_for(lambda: _posted_ids(fake, venue), 90), log.read_text()[-3000:]
        posted = len(_posted_ids(fake, venue))
        fake.fail_next(429, times=1, path=CREATE[venue], method="POST",
                       headers={"Retry-After": str(RETRY_AFTER_S)})
        assert wait_for(lambda: len(_posted_ids(fake, venue)) > posted, 120), \
            "no order was posted after the 429 was set up"
        refused_at = time.monotonic()
        cid = _posted_ids(fake, venue)[posted]
        out = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config",
                              str(cfg_path), "halt", "t"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert time.monotonic() - refused_at < RETRY_AFTER_S, "the halt came too late to test"
        # The trader goes HALTED once the client's wait is over; by then it has decided.
        assert wait_for(lambda: store_rows(db, "SELECT 1 FROM traders WHERE name = 't' AND "
                                          "trading_state = 'HALTED'"), 90), \
            log.read_text()[-3000:]
        time.sleep(1)  # anything it still posted would show now
        assert _posted_ids(fake, venue).count(cid) == 1, \
            f"{cid} was posted again after the operator halted the trader"
        with fake.lock:
            placed = [o for o in fake.orders if o["client_order_id"] == cid]
        assert not placed, f"{cid} reached the exchange after the halt"
        later = _posted_ids(fake, venue)[posted + 1:]
        assert not later, f"orders posted after the halt: {later}"
        # The intent is closed in the store, never left to be sent later.
        row = store_rows(db, f"SELECT status, reason FROM orders WHERE client_order_id = '{cid}'")
        assert row and row[0][0] in ("CANCELLED", "EXPIRED"), row
        assert p.poll() is None, log.read_text()[-3000:]
