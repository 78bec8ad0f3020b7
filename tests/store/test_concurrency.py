"""Several real processes on one store file: writers, a reader, and a SIGKILLed writer."""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from store.db import Store
from store.migrations import latest_version

ROOT = Path(__file__).resolve().parents[2]
OLD_DB = Path(__file__).with_name("data") / "v0001.db"

# A writer: waits for the go file, then commits `batches` batches of `size` fills rows.
# CAPPUCCINO_TEST_DEFERRED=1 swaps in a deferred BEGIN (to show that test fails then).
WRITER = r"""
import os, sys, time
from pathlib import Path
from store.db import Store
path, wid, batches, size, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])
store = Store(path)
if os.environ.get("CAPPUCCINO_TEST_DEFERRED"):
    store._begin_immediate = lambda: store.conn.execute("BEGIN")
while not go.exists():
    time.sleep(0.005)
for b in range(batches):
    rows = [(f"{wid}-{b}-{i}", wid, f"{wid}-o{b}", "BTC-USD", "BUY", "0.001", "95000.12",
             "0.02", "MAKER", time.time()) for i in range(size)]
    with store.write():
        # Read, then write (like a position update): a deferred BEGIN fails here at once
        # with "database is locked" when another process wrote since the read.
        have = store.one("SELECT count(*) FROM fills WHERE trader = ?", (wid,))[0]
        if have != b * size:
            sys.exit(f"{wid}: found {have} rows before batch {b}, expected {b * size}")
        store.conn.executemany("INSERT INTO fills (fill_id, trader, client_order_id, ticker,"
                               " side, qty, price, fee, liquidity, at)"
                               " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
print(store.one("SELECT count(*) FROM fills WHERE trader = ?", (wid,))[0])
"""

# A reader: until the stop file appears, counts rows per writer; every count it sees must be
# a whole number of batches (no partial transaction is ever visible) and never go down.
READER = r"""
import sys, time
from pathlib import Path
from store.db import Store
path, size, stop = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
store = Store(path)
seen, reads = {}, 0
while True:
    done = stop.exists()
    for trader, n in store.query("SELECT trader, count(*) FROM fills WHERE trader LIKE 'w%'"
                                 " GROUP BY trader"):
        if n % size or n < seen.get(trader, 0):
            sys.exit(f"reader saw {n} rows of {trader} (batch {size}, before {seen.get(trader)})")
        seen[trader] = n
    reads += 1
    if done:
        break
print(reads)
"""

# A writer that commits one batch, then starts a big one and reports it is inside it.
KILLED = r"""
import sys, time
from store.db import Store
store = Store(sys.argv[1])
def batch(tag, n):
    store.conn.executemany(
        "INSERT INTO fills (fill_id, trader, client_order_id, ticker, side, qty, price, fee,"
        " liquidity, at) VALUES (?, ?, ?, 'BTC-USD', 'BUY', '1', '1', '0', 'TAKER', ?)",
        [(f"{tag}-{i}", tag, "x" * 800, time.time()) for i in range(n)])
with store.write():
    batch("committed", 100)
with store.write():
    batch("doomed", 5000)  # ~5 MB: more than the page cache, so it spills into the WAL
    print("IN_TX", flush=True)
    time.sleep(60)
"""

# A writer that commits batches of 500 until it is killed.
LOOPER = r"""
import sys, time
from store.db import Store
store = Store(sys.argv[1])
b = 0
while True:
    with store.write():
        store.conn.executemany(
            "INSERT INTO fills (fill_id, trader, ticker, side, qty, price, fee, liquidity, at)"
            " VALUES (?, 'loop', 'BTC-USD', 'BUY', '1', '1', '0', 'TAKER', ?)",
            [(f"loop-{b}-{i}", time.time()) for i in range(500)])
    b += 1
    if b == 2:
        print("RUNNING", flush=True)
"""


def spawn(code: str, *args: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("start", ["new", "v0001"])
def test_four_writers_and_a_reader(tmp_path: Path, start: str) -> None:
    """Processes race to create (or migrate) the store, then write at once: nothing locked,
    nothing lost."""
    path, go, stop = tmp_path / "s.db", tmp_path / "go", tmp_path / "stop"
    if start == "v0001":
        shutil.copyfile(OLD_DB, path)
    batches, size = 50, 200
    reader = spawn(READER, path, size, stop)
    writers = {f"w{i}": spawn(WRITER, path, f"w{i}", batches, size, go) for i in range(4)}
    time.sleep(0.3)  # let every process open the new store before they all start writing
    go.touch()
    results = {wid: p.communicate(timeout=120) + (p.returncode,) for wid, p in writers.items()}
    stop.touch()
    r_out, r_err, = reader.communicate(timeout=60)
    for wid, (out, err, rc) in results.items():
        assert rc == 0 and "locked" not in err, f"{wid}: rc={rc} {err}"
        assert int(out) == batches * size, wid
    assert reader.returncode == 0, r_err
    assert int(r_out) >= 1
    with Store(path) as s:
        assert s.version == latest_version()
        counts = dict(s.query("SELECT trader, count(*) FROM fills GROUP BY trader"))
        old = {"sim": 3} if start == "v0001" else {}
        assert counts == {wid: batches * size for wid in writers} | old
        assert s.one("PRAGMA integrity_check")[0] == "ok"


def test_sigkill_inside_transaction_leaves_no_partial_rows(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path):
        pass
    proc = spawn(KILLED, path)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "IN_TX", proc.stderr.read() if proc.stderr else line
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert integrity(path) == "ok"
    with Store(path) as s:
        counts = dict(s.query("SELECT trader, count(*) FROM fills GROUP BY trader"))
        assert counts == {"committed": 100}
        with s.write():  # the dead writer's lock is gone
            s.conn.execute("INSERT INTO kv VALUES ('after', '1', 0)")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_at_a_random_moment(tmp_path: Path, seed: int) -> None:
    """Killed anywhere (inside a batch, during COMMIT, between batches): whole batches only."""
    path = tmp_path / "s.db"
    with Store(path):
        pass
    proc = spawn(LOOPER, path)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "RUNNING"
    time.sleep(random.Random(seed).uniform(0.0, 0.3))
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert integrity(path) == "ok"
    with Store(path) as s:
        n = s.one("SELECT count(*) FROM fills")[0]
        assert n >= 1000 and n % 500 == 0, n
