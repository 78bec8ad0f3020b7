"""What the `cappuccino trade` end-to-end tests share: an environment without the caller's
keys, a Coinbase fake armed for a live trader, and reads of the trader's store that tolerate
a store the trader has not made yet."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tests.fakes.fake_alpaca import FakeAlpaca
from tests.fakes.fake_coinbase import KEY_NAME, FakeCoinbase, make_ec_key

# fast retries and a short timeout: the tests inject faults and wait on their effect
RETRIES = "timeout_s = 5\nretry_initial_s = 0.01\nretry_max_s = 0.2\n"


def clean_env() -> dict[str, str]:
    """This process's environment without any Cappuccino, Coinbase or Alpaca setting."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("CAPPUCCINO_", "COINBASE_", "APCA_"))}


def store_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """The rows, or none while the store does not exist yet or is busy being made."""
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []


def live_coinbase(stack: ExitStack, env: dict[str, str], cfg_path: Path,
                  config: str) -> FakeCoinbase:
    """A started Coinbase fake with a fresh key in `env`, and `config` plus an armed
    `[coinbase]` section pointing at it written to `cfg_path`."""
    priv, pub = make_ec_key()
    fake = FakeCoinbase(public_key_pem=pub)
    stack.enter_context(fake)
    env.update(COINBASE_API_KEY=KEY_NAME, COINBASE_API_SECRET=priv)
    cfg_path.write_text(config + f'[coinbase]\nbase_url = "{fake.host_port}"\n'
                        "live_armed = true\n" + RETRIES)
    return fake


def paper_alpaca(stack: ExitStack, env: dict[str, str], cfg_path: Path,
                 config: str) -> FakeAlpaca:
    """A started Alpaca fake with paper keys in `env`, and `config` plus an `[alpaca]` section
    pointing at it written to `cfg_path`."""
    fake = FakeAlpaca()
    stack.enter_context(fake)
    env.update(APCA_API_KEY_ID="PKTEST", APCA_API_SECRET_KEY="s3cret")
    cfg_path.write_text(config + f'[alpaca]\nurl_override = "{fake.base_url}"\n'
                        f'data_url_override = "{fake.base_url}"\n' + RETRIES)
    return fake


def replay_start(speed: float) -> tuple[float, float]:
    """Where an accelerated fake starts (400 bars ago, on a 50-bar boundary) and its speed."""
    first = math.floor(time.time() / 300) * 300 - 400 * 300
    return first - (first // 300) % 50 * 300 + 310, speed


ROOT = Path(__file__).resolve().parents[2]


def trade_argv(cfg_path: Path, model: Path, venue: str, tickers: tuple[str, ...] | list[str],
               *, live: bool) -> list[str]:
    """`cappuccino trade` for trader `t` with capital 1000, as its own interpreter."""
    argv = [sys.executable, "-m", "engine.cli.main", "--config", str(cfg_path), "trade",
            "--name", "t", "--model", str(model), "--broker", venue,
            "--tickers", ",".join(tickers), "--capital", "1000"]
    return [*argv, "--live"] if live else argv


def start_trader(stack: ExitStack, argv: list[str], env: dict[str, str],
                 log: Path) -> subprocess.Popen[bytes]:
    """The trader started with its stderr in `log`; SIGTERMed and reaped when `stack` closes."""
    p = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                         stderr=log.open("ab"))
    stack.callback(p.wait, 60)
    stack.callback(p.send_signal, signal.SIGTERM)
    return p


def wait_while_alive(p: subprocess.Popen[bytes], cond: Callable[[], Any], timeout: float,
                     poll_s: float = 0.1) -> Any:
    """cond()'s first truthy value within `timeout`, or None once it passes or `p` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and p.poll() is None:
        if out := cond():
            return out
        time.sleep(poll_s)
    return None
