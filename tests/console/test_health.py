"""The health line on every pane: a real supervisor killed, an unreadable store, HALTED traders.

The store and the supervisor are real (a `cappuccino supervise` subprocess, SQLite files);
the app runs under Textual's pilot.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static, TabbedContent

from console.app import CappuccinoApp
from console.data import Loader
from engine.config import load_config
from engine.supervisor.client import supervisor_status
from store.db import Store
from widgets.line_table import LineTable

ROOT = Path(__file__).resolve().parents[2]
PANE_KEYS = "1234567"
FAST = """
[supervisor]
poll_s = 0.05
heartbeat_s = 0.2
stale_heartbeats = 25
services = []
[console]
refresh_s = 0.5
"""


def health_text(app: CappuccinoApp) -> str:
    return str(app.query_one("#health", Static).render())


async def settle(pilot: Any) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def wait_for(pilot: Any, cond: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, health_text(pilot.app)
        await pilot.pause(0.1)


async def test_trouble_is_on_every_pane_and_bang_walks_to_each_cause(env: Any) -> None:
    app = env.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key in PANE_KEYS:  # the same red line whatever pane is shown
            await pilot.press(key)
            await settle(pilot)
            text = health_text(app)
            assert app.query_one("#health").has_class("bad")
            for part in ("supervisor DOWN", "store ok", "1 HALTED", "1 CRITICAL", "1 FATAL"):
                assert part in text, text
        seen = []
        for _ in range(5):
            await pilot.press("exclamation_mark")
            await settle(pilot)
            pane = app.query_one(TabbedContent).active
            table = {"processes": "#procs-table", "positions": "#traders-table",
                     "alerts": "#alerts-levels"}[pane]
            seen.append((pane, app.query_one(table, LineTable).selected_key))
        assert seen == [("processes", "supervisor"), ("processes", "notifier"),
                        ("positions", "paper-2"), ("alerts", "paper-2"),
                        ("processes", "supervisor")]  # then round again


async def test_a_long_state_reason_opens_in_full(env: Any) -> None:
    reason = "manual halt (kill switch from the console by the night operator) " * 2
    with Store(env.db) as st:
        st.conn.execute("UPDATE traders SET trading_state = 'HALTED', state_reason = ? "
                        "WHERE name = 'paper-2'", (reason.strip(),))
        st.conn.commit()
    app = env.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        table = app.query_one("#traders-table", LineTable)
        assert table.select_key("paper-2")
        assert reason.strip() not in " ".join(table.get_row("paper-2"))  # cut to fit
        await pilot.press("enter")
        await settle(pilot)
        shown = str(app.screen.query_one("#detail-text", Static).render())
        assert reason.strip() in " ".join(shown.split())


async def test_nothing_wrong_is_green(env: Any) -> None:
    with Store(env.db) as st:
        st.conn.execute("DELETE FROM alerts")
        st.conn.execute("UPDATE traders SET trading_state = 'ACTIVE', state_reason = NULL")
        st.conn.execute("UPDATE processes SET state = 'RUNNING' WHERE state = 'FATAL'")
        st.conn.commit()
    app = env.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        # Only the supervisor is missing (none runs for this fixture store).
        text = health_text(app)
        assert "supervisor DOWN" in text and "HALTED" not in text and "FATAL" not in text
        assert app.health is not None and len(app.health.causes) == 1


@pytest.mark.parametrize("kind", ["missing", "garbage"])
async def test_an_unreadable_store_is_red_with_its_path_on_every_pane(
        tmp_path: Path, kind: str) -> None:
    db = tmp_path / "var" / "cappuccino.db"
    if kind == "garbage":
        db.parent.mkdir(parents=True)
        db.write_bytes(b"this is not a database" * 100)
    cfg_path = tmp_path / "cappuccino.toml"
    cfg_path.write_text(f'[store]\npath = "{db}"\n')
    cfg = load_config(cfg_path, environ={})
    app = CappuccinoApp(cfg, loader=Loader(db, clock=time.time), autorefresh=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        for key in PANE_KEYS:
            await pilot.press(key)
            await settle(pilot)
            text = " ".join(health_text(app).split())
            assert f"store UNREADABLE {db}" in text, text
            assert app.query_one("#health").has_class("bad")
        await pilot.press("exclamation_mark")  # the store comes first: its error in full
        await settle(pilot)
        assert str(db) in str(app.screen.query_one("#detail-text", Static).render())
    assert not db.exists() or kind == "garbage"  # never created behind the operator's back


def _supervise(cfg_path: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    out = open(tmp_path / "supervise.out", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli.main", "--config", str(cfg_path), "supervise"],
        stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=ROOT, start_new_session=True)
    out.close()
    return proc


@pytest.mark.slow
async def test_kill_9_of_the_supervisor_shows_within_seconds(tmp_path: Path) -> None:
    db = tmp_path / "var" / "cappuccino.db"
    cfg_path = tmp_path / "cappuccino.toml"
    cfg_path.write_text(f'[store]\npath = "{db}"\n' + FAST)
    cfg = load_config(cfg_path, environ={})
    proc = _supervise(cfg_path, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while supervisor_status(cfg) != (True, proc.pid):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        app = CappuccinoApp(cfg, loader=Loader(db, clock=time.time, stale_after_s=5.0))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: "supervisor ok" in health_text(app))
            assert not app.query_one("#health").has_class("bad")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            killed = time.monotonic()
            await wait_for(pilot, lambda: "supervisor DOWN" in health_text(app), timeout=10)
            assert time.monotonic() - killed < 5.0  # refresh_s 0.5: one or two refreshes
            assert app.query_one("#health").has_class("bad")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
