"""A paper trader (the real alpaca-py client against the local fake) whose machine clock
steps an hour forward for a few seconds and back: it decides no bar from the future and goes
on deciding bars once the clock is back (it used to record a bar an hour ahead, then decide
none for that hour)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.config import load_config
from engine.soak.venues import CONFIG, Market, P
from engine.soak.workdir import TICKERS, tiny_model
from store.db import Store
from store.fixtures import equity_f_series
from tests.fakes.fake_alpaca import FakeAlpaca

ROOT = Path(__file__).resolve().parents[3]
SPEED = 100.0  # a 5-minute bar every 3 s


def bar_times(db: Path) -> list[float]:
    if not db.exists():
        return []
    with Store(db, create=False, check=False, busy_timeout_s=10) as s:
        return [float(r["at"]) for r in equity_f_series(s, "t")]


def wait_bars(db: Path, n: int, proc: subprocess.Popen[bytes], log: Path,
              timeout: float) -> list[float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        bars = bar_times(db)
        if len(bars) >= n:
            return bars
        time.sleep(0.2)
    raise AssertionError(f"{len(bar_times(db))} of {n} bars decided; trader log:\n"
                         + log.read_text(errors="replace")[-2000:])


@pytest.mark.slow
def test_a_machine_clock_step_decides_no_future_bar_and_stops_no_bar(tmp_path: Path) -> None:
    fake = FakeAlpaca()
    with fake:
        cfg_path = tmp_path / "cappuccino.toml"
        cfg_path.write_text(CONFIG.replace("clock_check_s = 0.1", "clock_check_s = 1")
                            + f'[alpaca]\nurl_override = "{fake.base_url}"\n'
                            f'data_url_override = "{fake.base_url}"\n')
        cfg = load_config(cfg_path, environ={})
        tiny_model(tmp_path / "model", cfg)
        first = math.floor(time.time() / P) * P - 400 * P
        fake.accelerate(first - (first // P) % 50 * P + P + 10, SPEED)
        market = Market(fake, seed=7, coinbase=False)
        market.start()
        shift = tmp_path / "clock-shift"
        shift.write_text("0")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPPUCCINO_", "APCA_"))}
        env.update(APCA_API_KEY_ID="PKTEST", APCA_API_SECRET_KEY="s3cret",
                   CLOCK_SHIFT_FILE=str(shift),
                   PYTHONPATH=os.pathsep.join([str(ROOT / "tests" / "fakes" / "clockshift"),
                                               str(ROOT)]))
        log = tmp_path / "trader.log"
        db = Path(cfg.store.path)
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "engine.cli.main", "--config", str(cfg_path), "trade",
                 "--name", "t", "--model", str(tmp_path / "model"), "--broker", "alpaca",
                 "--tickers", ",".join(TICKERS), "--capital", "1000"], cwd=ROOT, env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        try:
            before = len(wait_bars(db, 2, proc, log, 120))
            shift.write_text("3600")  # the machine's clock an hour ahead...
            time.sleep(4)             # (over a clock check: the trader sees the skew)
            shift.write_text("0")     # ...and back
            # 30 s here are 50 bars on the exchange: far less than the hour it stopped for
            bars = wait_bars(db, before + 3, proc, log, 30)
            assert max(bars) <= fake.now() + P, "a bar from the future was decided"
        finally:
            market.halt.set()
            proc.terminate()
            proc.wait(60)
