"""Two `cappuccino promote` at once to the same trader: exactly one is recorded and starts it.

Each CLI previews (the trader is not running yet: both pass), then asks the supervisor. Its
handler thread records promotion #1 and a trade command, then handles #2 while the trade
command has not made the trader's process row yet: #2 was recorded too, and its trade
command failed "already running" - a promotion that never took effect. The promotion and its
trade command are now one store write that first checks the trader is neither running nor
being started (store.promotions.insert_promotion_and_start): the second is refused,
unrecorded, whatever the timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.config import load_config
from engine.supervisor.client import ensure_supervisor
from store.db import Store
from tests.engine.cli.test_promote import add_trial

ROOT = Path(__file__).resolve().parents[3]
CLIS = 3  # three at once: the window is the trade command's own check (a plan, ~1 s)


@pytest.fixture
def supervised(supervised_config: Callable[[str], Path]) -> Path:
    return supervised_config('[study]\nname = "s1"\n[supervisor]\npoll_s = 0.05\n'
                             "heartbeat_s = 0.2\nstop_grace_s = 1\nstale_heartbeats = 25\n"
                             "services = []\n")


def test_concurrent_promotions_to_one_trader_record_one(supervised: Path) -> None:
    cfg = load_config(supervised, environ={})
    with Store(cfg.store.path) as store:
        add_trial(cfg, store, 2, "COMPLETE", 0.5)
        add_trial(cfg, store, 3, "COMPLETE", 0.4)
    ensure_supervisor(cfg)
    argv = [sys.executable, "-m", "engine.cli.main", "--config", str(supervised), "promote",
            "--wait", "0", "--to", "paper", "--name", "race", "--force", "--reason", "race"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    procs = [subprocess.Popen([*argv, "--trial", str(2 + i % 2)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(CLIS)]
    outs = [p.communicate(timeout=240) for p in procs]
    codes = [p.returncode for p in procs]
    assert codes.count(0) == 1, (codes, outs)
    for code, (_, err) in zip(codes, outs, strict=True):
        if code != 0:  # refused by the CLI's preview (2) or by the supervisor (1): one line
            assert code in (1, 2) and "trader race is" in err, (code, err)
            assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    with Store(cfg.store.path) as store:
        deadline = time.monotonic() + 120  # the trade command runs after `--wait 0` returned
        while time.monotonic() < deadline and store.query(
                "SELECT 1 FROM commands WHERE state IN ('pending', 'running')"):
            time.sleep(0.2)
        promos = store.query("SELECT id, trade_args FROM promotions WHERE trader = 'race'")
        trades = store.query("SELECT state, result FROM commands WHERE action = 'trade'")
    assert len(promos) == 1 and promos[0]["trade_args"], [dict(p) for p in promos]
    assert [t["state"] for t in trades] == ["done"], [dict(t) for t in trades]
