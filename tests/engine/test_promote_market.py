"""A promoted trader trades the market its model was trained on.

Out of the box `[data] tickers` (what `train` trains on) lists seven coins and `[trader]
tickers` two: a paper trader started with the latter refused its model at once (exit 2,
"model does not match the trader: tickers"). Real CLI, real supervisor, real sim trader.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.config import load_config
from engine.model.untrained import untrained_model
from engine.soak.workdir import FAST
from engine.supervisor import lock
from store.db import Store

ROOT = Path(__file__).resolve().parents[2]
TRAINED = ["BTC-USD", "ETH-USD", "SOL-USD"]
# [trader] tickers left at its default (BTC-USD, ETH-USD), as in the shipped config.
CONFIG = """
[supervisor]
poll_s = 0.05
heartbeat_s = 0.2
stop_grace_s = 5
services = []
[study]
name = "s"
""" + FAST.replace("[data]\n", f"[data]\ntickers = {json.dumps(TRAINED)}\n", 1) + """
[trader]
replay_speed = 50
poll_s = 0.05
"""


def cli(config: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    return subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(config),
                           *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_a_forced_paper_promotion_trades_the_models_tickers(tmp_path: Path) -> None:
    config = tmp_path / "cappuccino.toml"
    config.write_text(CONFIG)
    cfg = load_config(config, environ={})
    assert list(cfg.trader.tickers) != TRAINED  # the shipped defaults' mismatch
    model = untrained_model(Path(cfg.paths.models) / "model", cfg, tuple(TRAINED))
    store = Store(cfg.store.path)
    with store.write():
        store.conn.execute("INSERT INTO attempts (study, trial, attempt, state, objective, "
                           "model_path, started_at) VALUES ('s', 0, 0, 'COMPLETE', 0.3, ?, 0)",
                           (str(model),))
    try:
        out = cli(config, "promote", "--to", "paper", "--trial", "0", "--force", "--reason",
                  "hand-built test model")
        assert out.returncode == 0, out.stderr
        deadline = time.monotonic() + 90
        row = None
        while time.monotonic() < deadline:
            row = store.one("SELECT * FROM processes WHERE kind = 'trader'")
            equity = store.one("SELECT COUNT(*) FROM equity")[0]
            if row is not None and (row["restarts"] or equity >= 3):
                break
            time.sleep(0.5)
        assert row is not None and row["restarts"] == 0, dict(row or {})
        assert row["state"] == "RUNNING", dict(row)
        assert store.one("SELECT COUNT(*) FROM equity")[0] >= 3, dict(row)
        trader = store.one("SELECT tickers, timeframe FROM traders")
        assert json.loads(trader["tickers"]) == TRAINED and trader["timeframe"] == "5m"
        # The supervisor's own re-check agrees: a restart starts the same trader again.
        again = cli(config, "restart", row["name"])
        assert again.returncode == 0, again.stderr + again.stdout
    finally:
        cli(config, "stop", "all")
        sup = lock.holder(lock.lock_path(cfg.store.path))
        pids = [r["pid"] for r in store.query("SELECT pid FROM processes WHERE pid IS NOT NULL")]
        for pid in [sup, *pids]:
            with contextlib.suppress(ProcessLookupError, PermissionError, TypeError):
                os.killpg(pid, signal.SIGKILL)  # type: ignore[arg-type]
        store.close()
