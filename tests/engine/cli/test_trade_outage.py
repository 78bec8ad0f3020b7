"""A 5xx storm at a trader's (re)start: a real `cappuccino trade` process on the Coinbase fake
(the real SDK over HTTP) that answers 503 to everything for a while. The trader must wait the
outage out (beating, stoppable) and trade once the exchange is back, not exit at once: under
the supervisor each such exit is a quick restart, and a few in a row leave a live trader
FATAL, its orders unmanaged, until the operator notices."""

from __future__ import annotations

import signal
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from engine.config import load_config
from engine.soak.venues import CONFIG, SPEED
from engine.soak.workdir import TICKERS, tiny_model
from tests.fakes.trade_proc import (
    clean_env,
    live_coinbase,
    replay_start,
    start_trader,
    store_rows,
    trade_argv,
    wait_while_alive,
)

OUTAGE_S = 8.0


def _decisions(db: Path) -> int:
    return len(store_rows(db, "SELECT 1 FROM decisions"))


@pytest.mark.slow
def test_trader_waits_out_an_outage_at_start(tmp_path: Path) -> None:
    env = clean_env()
    with ExitStack() as stack:
        cfg_path = tmp_path / "cappuccino.toml"
        fake = live_coinbase(stack, env, cfg_path, CONFIG)
        cfg = load_config(cfg_path, environ={})
        tiny_model(tmp_path / "model", cfg)
        fake.accelerate(*replay_start(SPEED))
        fake.fail_next(503, times=1_000_000)  # everything, until cleared
        log = tmp_path / "trader.log"
        p = start_trader(stack, trade_argv(cfg_path, tmp_path / "model", "coinbase", TICKERS,
                                           live=True), env, log)

        def logged(text: str) -> bool:
            return text in log.read_text(errors="replace")

        wait_while_alive(p, lambda: logged("not answering at start"), 90, 0.2)  # torch import
        assert p.poll() is None, f"the trader gave up (exit {p.returncode}):\n" + \
            log.read_text(errors="replace")[-2000:]
        assert logged("not answering at start"), log.read_text(errors="replace")[-2000:]
        time.sleep(OUTAGE_S)  # a storm longer than the client's own retries
        assert p.poll() is None, log.read_text(errors="replace")[-2000:]
        hit = fake.count("GET", "/")
        assert hit >= 3, "the trader did not keep trying"
        fake.clear_faults()
        db = Path(cfg.store.path)
        wait_while_alive(p, lambda: _decisions(db) >= 2, 60, 0.2)
        assert _decisions(db) >= 2, "no trading after the outage:\n" + \
            log.read_text(errors="replace")[-2000:]
        p.send_signal(signal.SIGTERM)
        assert p.wait(60) == 0, log.read_text(errors="replace")[-2000:]
