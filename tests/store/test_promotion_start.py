"""store.promotions.insert_promotion_and_start: a promotion and its trade command, one write.

Of several processes promoting the same trader at the same instant, exactly one records a
promotion and a trade command; the others are told why (TraderBusy) and wrote nothing. A
trader whose row is up, or whose trade command is not finished, blocks a new start; a
trader that is down does not. The v0007 migration keeps every promotion row.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from store import promotions as prom
from store.commands import claim_pending, finish_command, insert_command
from store.db import Store
from store.migrations import latest_version
from store.processes import update_process, upsert_process
from tests.store.older import store_before

ROOT = Path(__file__).resolve().parents[2]
ARGS = {"name": "t", "model": "/m", "broker": "sim", "tickers": ["BTC-USD"],
        "timeframe": "5m", "capital": "1000.00"}

# One process: wait at the barrier file, then try to record a promotion of trader t.
CHILD = """
import os, sys, time
from store import promotions as prom
from store.db import Store
path, go, i = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Store(path) as s:
    while not os.path.exists(go):
        time.sleep(0.001)
    try:
        pid, cid = prom.insert_promotion_and_start(
            s, "paper", f"s/trial {i}", [], True, trader="t", forced=False, reason=None,
            capital="1000.00", at=None, trade_args={"i": i}, source="cli")
        print("recorded", pid, cid)
    except prom.TraderBusy as e:
        print("busy", e.blocker.command_id)
"""


def start(s: Store, i: int = 0) -> tuple[int, int]:
    return prom.insert_promotion_and_start(
        s, "paper", f"s/trial {i}", [], True, trader="t", forced=False, reason=None,
        capital="1000.00", at=None, trade_args=dict(ARGS), source="cli")


def test_concurrent_promotions_of_one_trader_record_one(tmp_path: Path) -> None:
    path, go = tmp_path / "s.db", tmp_path / "go"
    Store(path).close()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(go), str(i)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(6)]
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    lines = [out.strip() for out, _ in outs]
    assert sum(ln.startswith("recorded") for ln in lines) == 1, lines
    with Store(path) as s:
        promos = s.query("SELECT id FROM promotions")
        trades = s.query("SELECT id FROM commands WHERE action = 'trade'")
    assert len(promos) == 1 and len(trades) == 1
    # every loser names the winner's trade command
    assert {ln for ln in lines if ln.startswith("busy")} == {f"busy {trades[0]['id']}"}


def test_what_blocks_a_start_and_what_does_not(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as s:
        pid, cid = start(s)
        row = s.one("SELECT trade_args FROM promotions WHERE id = ?", (pid,))
        assert json.loads(row["trade_args"]) == ARGS
        with pytest.raises(prom.TraderBusy) as pending:  # its trade command is pending
            start(s, 1)
        assert pending.value.blocker.command_id == cid
        claim_pending(s)
        with pytest.raises(prom.TraderBusy):  # ... then running
            start(s, 1)
        upsert_process(s, "trader-t", "trader", ["trade"])
        finish_command(s, cid, True, "started")
        update_process(s, "trader-t", state="RUNNING", pid=4242)
        with pytest.raises(prom.TraderBusy) as running:  # its process row is up
            start(s, 1)
        assert (running.value.blocker.state, running.value.blocker.pid) == ("RUNNING", 4242)
        for state in ("BACKOFF", "STOPPING", "STARTING"):
            update_process(s, "trader-t", state=state)
            with pytest.raises(prom.TraderBusy):
                start(s, 1)
        assert len(s.query("SELECT id FROM promotions")) == 1  # no refused start recorded
        # another trader's command blocks nothing; a trader that is down starts again
        insert_command(s, "trade", "trader-other", {})
        update_process(s, "trader-t", state="STOPPED", pid=None)
        start(s, 2)
        assert len(s.query("SELECT id FROM promotions")) == 2


def test_v0007_keeps_every_promotion_row(tmp_path: Path) -> None:
    """A store at the version before with promotions moves forward, every row as it was."""
    path = tmp_path / "old.db"
    with store_before(path, "_promotion_args.sql") as s:
        for i in range(50):
            s.conn.execute("INSERT INTO promotions (at, kind, subject, trader, gates, passed, "
                           "forced, reason, capital) VALUES (?, 'paper', ?, ?, '[]', 1, ?, "
                           "?, '1000.00')", (float(i), f"s/trial {i}", f"t{i}", i % 2,
                                             f"why {i}" if i % 2 else None))
        before = [tuple(r) for r in s.query("SELECT * FROM promotions ORDER BY id")]
    with Store(path) as s:
        assert s.version == latest_version()
        after = s.query("SELECT * FROM promotions ORDER BY id")
    assert [tuple(r)[:-1] for r in after] == before
    assert all(r["trade_args"] is None for r in after)  # nothing recorded what they started
