"""A paper trader (the real alpaca-py client against the local fake) whose machine clock
steps an hour forward for a few seconds and back: it decides no bar from the future and goes
on deciding bars once the clock is back (it used to record a bar an hour ahead, then decide
none for that hour)."""

from __future__ import annotations

import math
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from engine.config import load_config
from engine.soak.venues import CONFIG, Market, P
from engine.soak.workdir import TICKERS, tiny_model
from store.db import Store
from store.fixtures import equity_f_series
from tests.fakes.shifted_clock import clock_shift
from tests.fakes.trade_proc import (
    clean_env,
    paper_alpaca,
    start_trader,
    trade_argv,
    wait_while_alive,
)

SPEED = 100.0  # a 5-minute bar every 3 s


def bar_times(db: Path) -> list[float]:
    if not db.exists():
        return []
    with Store(db, create=False, check=False, busy_timeout_s=10) as s:
        return [float(r["at"]) for r in equity_f_series(s, "t")]


@pytest.mark.slow
def test_a_machine_clock_step_decides_no_future_bar_and_stops_no_bar(tmp_path: Path) -> None:
    env = clean_env()
    with ExitStack() as stack:
        cfg_path = tmp_path / "cappuccino.toml"
        fake = paper_alpaca(stack, env, cfg_path,
                            CONFIG.replace("clock_check_s = 0.1", "clock_check_s = 1"))
        cfg = load_config(cfg_path, environ={})
        tiny_model(tmp_path / "model", cfg)
        first = math.floor(time.time() / P) * P - 400 * P
        fake.accelerate(first - (first // P) % 50 * P + P + 10, SPEED)
        market = Market(fake, seed=7, coinbase=False)
        market.start()
        stack.callback(market.halt.set)
        shift, shifted = clock_shift(tmp_path)
        env.update(shifted)
        log = tmp_path / "trader.log"
        db = Path(cfg.store.path)
        proc = start_trader(stack, trade_argv(cfg_path, tmp_path / "model", "alpaca", TICKERS,
                                              live=False), env, log)

        def wait_bars(n: int, timeout: float) -> list[float]:
            def enough() -> list[float] | None:
                bars = bar_times(db)
                return bars if len(bars) >= n else None

            bars = wait_while_alive(proc, enough, timeout, 0.2)
            assert bars, (f"{len(bar_times(db))} of {n} bars decided; trader log:\n"
                          + log.read_text(errors="replace")[-2000:])
            return list(bars)

        before = len(wait_bars(2, 120))
        shift.write_text("3600")  # the machine's clock an hour ahead...
        time.sleep(4)             # (over a clock check: the trader sees the skew)
        shift.write_text("0")     # ...and back
        # 30 s here are 50 bars on the exchange: far less than the hour it stopped for
        bars = wait_bars(before + 3, 30)
        assert max(bars) <= fake.now() + P, "a bar from the future was decided"
