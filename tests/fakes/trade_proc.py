"""What the `cappuccino trade` end-to-end tests share: an environment without the caller's
keys, a Coinbase fake armed for a live trader, and reads of the trader's store that tolerate
a store the trader has not made yet."""

from __future__ import annotations

import math
import os
import sqlite3
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

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


def replay_start(speed: float) -> tuple[float, float]:
    """Where an accelerated fake starts (400 bars ago, on a 50-bar boundary) and its speed."""
    first = math.floor(time.time() / 300) * 300 - 400 * 300
    return first - (first // 300) % 50 * 300 + 310, speed
