"""The `s` form starts a study that really runs: pilot keys -> command row -> a real
supervisor -> a `cappuccino train` process that parses its arguments and opens the study.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Select, Static

from console.app import CappuccinoApp
from console.data import Loader
from engine.config import load_config
from engine.supervisor.client import supervisor_status
from store.db import Store

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
[store]
path = "{db}"
[data]
source = "bundled"
tickers = ["BTC-USD", "ETH-USD"]
[ppo]
total_steps = 2048
n_envs = 8
n_steps = 64
minibatch = 256
epochs = 1
episode_len = 256
[study]
n_trials = 1
cpcv_groups = 4
cpcv_test_groups = 1
max_splits = 1
embargo_bars = 24
[supervisor]
poll_s = 0.1
heartbeat_s = 0.5
stale_heartbeats = 20
services = []
[console]
refresh_s = 0.5
"""


def rows(db: Path, sql: str) -> list[Any]:
    with Store(db, create=False, check=False) as st:
        return st.query(sql)


async def wait_for(pilot: Any, cond: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.2)


@pytest.mark.slow
async def test_the_form_refuses_bad_input_and_its_study_really_runs(tmp_path: Path) -> None:
    db = tmp_path / "var" / "cappuccino.db"
    cfg_path = tmp_path / "cappuccino.toml"
    cfg_path.write_text(CONFIG.format(db=db))
    cfg = load_config(cfg_path, environ={})
    out = open(tmp_path / "supervise.out", "wb")  # noqa: SIM115
    sup = subprocess.Popen(
        [sys.executable, "-m", "engine.cli.main", "--config", str(cfg_path), "supervise"],
        stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=ROOT, start_new_session=True)
    out.close()
    try:
        deadline = time.monotonic() + 60
        while supervisor_status(cfg) != (True, sup.pid):
            assert sup.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        app = CappuccinoApp(cfg, loader=Loader(db, clock=time.time))
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.pause(0.5)
            await pilot.press("s")
            await pilot.pause()
            form = app.screen
            error = form.query_one("#form-error", Static)
            for name, trials, expect in (("bad name!", "1", "study:"),
                                         ("e2e", "0", "n_trials:")):
                form.query_one("#name", Input).value = name
                form.query_one("#n_trials", Input).value = trials
                form.query_one("#name", Input).focus()
                await pilot.press("enter")
                await pilot.pause()
                assert app.screen is form and expect in str(error.render())
            form.query_one("#n_trials", Input).value = "1"
            form.query_one("#gpu", Select).value = "cpu"
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen is not form, "the form to close", 10)
            await wait_for(pilot, lambda: bool(rows(db, "SELECT 1 FROM commands WHERE "
                                                    "state = 'done'")), "the command", 60)
            cmd = rows(db, "SELECT action, args, result FROM commands")[0]
            assert cmd["action"] == "train"
            assert json.loads(cmd["args"]) == {"study": "e2e", "timeframe": "5m",
                                               "n_trials": 1, "device": "cpu"}
            # The train process parsed its arguments and opened its study.
            await wait_for(pilot, lambda: bool(rows(db, "SELECT 1 FROM studies WHERE "
                                                    "name = 'e2e'")), "the study row", 120)
            proc = rows(db, "SELECT state, argv, last_error FROM processes "
                            "WHERE name = 'study-e2e'")[0]
            assert proc["state"] in ("RUNNING", "EXITED") and proc["last_error"] is None
            argv = json.loads(proc["argv"])
            assert argv[argv.index("--device") + 1] == "cpu"
            # The console said so: the watch on study-e2e is over, with no failure.
            await wait_for(pilot, lambda: "study-e2e" not in app.watched, "the outcome", 30)
    finally:
        pids = []
        with contextlib.suppress(Exception):
            pids = [r["pid"] for r in rows(db, "SELECT pid FROM processes WHERE pid IS NOT NULL")]
        for pid in [sup.pid, *pids]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        sup.wait()
