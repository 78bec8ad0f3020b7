"""End to end: promote a trial to a supervised sim trader, let the monitor call EMERGENCY,
and watch the supervisor stop the trader, which goes HALTED."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.config import load_config
from engine.model.untrained import untrained_model
from engine.monitor.cycle import run_cycle
from engine.promote import Request, promote
from engine.soak.workdir import FAST
from store.db import Store, now

ROOT = Path(__file__).resolve().parents[3]
CONFIG = """
[supervisor]
poll_s = 0.05
heartbeat_s = 0.2
stop_grace_s = 5
services = []
[study]
name = "s"
""" + FAST + """[trader]
tickers = ["BTC-USD"]
replay_speed = 50
poll_s = 0.01
[monitor]
window_hours = 2
min_samples = 12
emergency_sustain_h = 0
halt_wait_s = 20
"""


def wait_for(pred, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def logs(tmp_path: Path) -> str:
    """The supervisor's and the trader's log tails, for a failure message."""
    text = ""
    for f in [tmp_path / "supervise.out", *sorted((tmp_path / "var").rglob("*.log"))]:
        with contextlib.suppress(OSError):
            text += f"\n== {f.name}\n" + f.read_text(errors="replace")[-1500:]
    return text


@pytest.mark.slow
def test_emergency_auto_stops_a_supervised_sim_trader(tmp_path: Path) -> None:
    config = tmp_path / "cappuccino.toml"
    config.write_text(CONFIG)
    cfg = load_config(config, environ={})
    model = untrained_model(Path(cfg.paths.models) / "model", cfg,
                            tuple(cfg.trader.tickers))  # the supervisor trades only models there
    store = Store(cfg.store.path)
    with store.write():
        store.conn.execute("INSERT INTO attempts (study, trial, attempt, state, objective, "
                           "model_path, started_at) VALUES ('s', 0, 0, 'COMPLETE', 0.3, ?, 0)",
                           (str(model),))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    log = open(tmp_path / "supervise.out", "wb")  # noqa: SIM115
    sup = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--config", str(config),
                            "supervise"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                           stdout=log, stderr=log, start_new_session=True)
    log.close()
    try:
        # a hand-built model has no study evidence: the paper gate refuses it, so force it
        out = promote(cfg, store, Request(to="paper", trial=0, force=True,
                                          reason="hand-built test model"), now())
        name = out.trader
        wait_for(lambda: store.one("SELECT state FROM commands WHERE id = ?",
                                   (out.command_id,))["state"] == "done", what="trade command")
        wait_for(lambda: store.one("SELECT COUNT(*) FROM equity WHERE trader = ?",
                                   (name,))[0] >= 30, what="30 equity rows")
        # The model is whatever it is; a backtest Sharpe of 1000 puts it far below the line.
        with store.write():
            store.conn.execute("UPDATE traders SET backtest_sharpe = 1000 WHERE name = ?",
                               (name,))
        [v] = run_cycle(cfg, store, now())
        assert v.level == "EMERGENCY" and v.stopped, (v, logs(tmp_path))
        stop = store.one("SELECT * FROM commands WHERE action = 'stop'")
        assert (stop["target"], stop["source"]) == (f"trader-{name}", "monitor")
        wait_for(lambda: store.one("SELECT state FROM commands WHERE action = 'stop'")["state"]
                 in ("done", "failed"), what="stop command")
        row = store.one("SELECT state, result FROM commands WHERE action = 'stop'")
        assert row["state"] == "done", (dict(row), logs(tmp_path))
        proc = wait_for(lambda: (r := store.one("SELECT * FROM processes WHERE name = ?",
                                                (f"trader-{name}",)))["state"] == "STOPPED" and r,
                        what="trader process STOPPED")
        assert proc["desired"] == "stopped"
        t = store.one("SELECT trading_state, halt_requested FROM traders WHERE name = ?",
                      (name,))
        assert t["halt_requested"] == 1
        assert t["trading_state"] == "HALTED", logs(tmp_path)
    except AssertionError as e:
        if "==" in str(e):
            raise
        raise AssertionError(f"{e}{logs(tmp_path)}") from None
    finally:
        pids = [r["pid"] for r in store.query("SELECT pid FROM processes WHERE pid IS NOT NULL")]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sup.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            sup.wait(15)
        for pid in [sup.pid, *pids]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        store.close()
