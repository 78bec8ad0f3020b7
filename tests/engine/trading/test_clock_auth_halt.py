"""A live trader (a real `cappuccino trade` process, the real coinbase-advanced-py SDK against
the fake) whose machine clock steps 30 s forward while it runs: Coinbase refuses every signed
call (the JWT is not valid yet). It halts, naming the clock - not "credentials refused", which
sends the operator to rotate good keys - and resumes by itself once the clock is back."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.config import load_config
from engine.soak.venues import CONFIG
from engine.soak.workdir import TICKERS, tiny_model
from tests.fakes import FakeCoinbase
from tests.fakes.fake_coinbase import KEY_NAME, make_ec_key

ROOT = Path(__file__).resolve().parents[3]


def _trader(db: Path) -> tuple[str, str]:
    try:
        with sqlite3.connect(db, timeout=5) as c:
            row = c.execute("SELECT trading_state, COALESCE(state_reason, '') FROM traders "
                            "WHERE name = 't'").fetchone()
    except sqlite3.OperationalError:
        return "", ""
    return (str(row[0]), str(row[1])) if row else ("", "")


def _wait(db: Path, state: str, p: subprocess.Popen[bytes], log: Path,
          timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and p.poll() is None:
        now, reason = _trader(db)
        if now == state:
            return reason
        time.sleep(0.2)
    raise AssertionError(f"trader not {state} (is {_trader(db)}); log:\n"
                         + log.read_text(errors="replace")[-2000:])


@pytest.mark.slow
def test_a_clock_step_halts_naming_the_clock_and_resumes(tmp_path: Path) -> None:
    priv, pub = make_ec_key()
    fake = FakeCoinbase(public_key_pem=pub)
    with fake:
        cfg_path = tmp_path / "cappuccino.toml"
        cfg_path.write_text(CONFIG + f'[coinbase]\nbase_url = "{fake.host_port}"\n'
                            "live_armed = true\ntimeout_s = 5\nretry_initial_s = 0.01\n"
                            "retry_max_s = 0.2\n")
        cfg = load_config(cfg_path, environ={})
        tiny_model(tmp_path / "model", cfg)
        # (not accelerated: the fake's server time must be the clock it checks tokens on)
        shift = tmp_path / "clock-shift"
        shift.write_text("0")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CAPPUCCINO_", "COINBASE_", "APCA_"))}
        env.update(COINBASE_API_KEY=KEY_NAME, COINBASE_API_SECRET=priv,
                   CLOCK_SHIFT_FILE=str(shift),
                   PYTHONPATH=os.pathsep.join([str(ROOT / "tests" / "fakes" / "clockshift"),
                                               str(ROOT)]))
        log = tmp_path / "trader.log"
        db = Path(cfg.store.path)
        with log.open("wb") as err:
            p = subprocess.Popen(
                [sys.executable, "-m", "engine.cli.main", "--config", str(cfg_path), "trade",
                 "--name", "t", "--model", str(tmp_path / "model"), "--broker", "coinbase",
                 "--tickers", ",".join(TICKERS), "--capital", "1000", "--live"],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err)
        try:
            _wait(db, "ACTIVE", p, log, 120)   # torch import on a loaded machine
            shift.write_text("30")             # the machine's clock 30 s ahead
            reason = _wait(db, "HALTED", p, log, 60)
            assert "the machine's clock is 30 s ahead of Coinbase's" in reason, reason
            assert "fix NTP; the keys work at Coinbase's time" in reason, reason
            assert "credentials refused" not in reason, reason
            shift.write_text("0")              # NTP puts it back
            _wait(db, "ACTIVE", p, log, 90)    # the auth probe backs off up to 60 s
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(60)
