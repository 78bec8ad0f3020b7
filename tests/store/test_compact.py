"""Compacting a store in place (store.compact) on real files, with real processes holding it."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.bench.books import BARS_PER_DAY, write_days
from store import thinning, views
from store.commands import insert_command
from store.compact import Busy, Exclusive, NotCompacted, compact
from store.db import Store

ROOT = Path(__file__).resolve().parents[2]


def dump(path: Path) -> dict[str, Any]:
    """Every row of every table (rowids too: fills' ties are read in rowid order; and the
    AUTOINCREMENT counters in sqlite_sequence), the schema and the schema version, read
    through SQLite. Large tables are hashed, row by row in order."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        out: dict[str, Any] = {
            "user_version": conn.execute("PRAGMA user_version").fetchone()[0],
            "schema": conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master "
                                   "ORDER BY type, name").fetchall()}
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for t in tables:
            try:
                cur = conn.execute(f'SELECT rowid, * FROM "{t}" ORDER BY rowid')
            except sqlite3.OperationalError:  # WITHOUT ROWID: in primary key order
                cur = conn.execute(f'SELECT * FROM "{t}"')
            h, n = hashlib.sha256(), 0
            for row in cur:
                h.update(repr(tuple(row)).encode())
                n += 1
            out[t] = (n, h.hexdigest())
        return out
    finally:
        conn.close()


def pragma(path: Path, name: str) -> int:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute(f"PRAGMA {name}").fetchone()[0])
    finally:
        conn.close()


def thinned_store(path: Path, days: int = 60) -> Path:
    """A trader's `days` of bars and books, thinned to a 31-day window (freed pages inside),
    and a few commands, half of them deleted (sqlite_sequence keeps counting)."""
    with Store(path) as s:
        write_days(s, "t", 0, days * BARS_PER_DAY)
        clock = views.trader_clock(s, "t")
        assert clock is not None
        thinning.thin_trader(s, "t", thinning.cutoff_for(clock, 31), max_batches=100_000)
        ids = [insert_command(s, "stop", f"p{i}", source="cli") for i in range(6)]
        with s.write() as db:
            db.conn.execute("DELETE FROM commands WHERE id IN (?, ?, ?)", ids[:3])
    assert not Path(f"{path}-wal").exists()  # the last connection closed: checkpointed
    return path


def test_a_thinned_store_gives_its_free_pages_back_and_keeps_every_row(tmp_path: Path) -> None:
    path = thinned_store(tmp_path / "s.db")
    before, size = dump(path), path.stat().st_size
    free = pragma(path, "freelist_count") * pragma(path, "page_size")
    assert free > size / 3  # the sweep freed a good part of the file

    with Exclusive(path) as db:
        done = compact(db)

    assert dump(path) == before
    assert pragma(path, "freelist_count") == 0
    assert done.bytes_before == size and done.bytes_after == path.stat().st_size
    assert size - done.bytes_after >= free * 0.9  # (b-tree pages also get packed)
    assert done.before.freelist > 0 and done.after.freelist == 0
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    with Store(path) as s:  # opens as ever (quick_check, migrations), takes writes
        assert s.integrity() == "ok"
        insert_command(s, "stop", "after", source="cli")
    assert os.stat(path).st_mode & 0o777 == 0o600  # the same file: its mode kept


def _holder(path: Path) -> subprocess.Popen[str]:
    """A real process with the store open (a Store, as every Cappuccino process has)."""
    code = ("import sys, time; from store.db import Store; s = Store(sys.argv[1]); "
            "print('open', flush=True); time.sleep(120)")
    p = subprocess.Popen([sys.executable, "-c", code, str(path)], cwd=ROOT, text=True,
                         stdout=subprocess.PIPE)
    assert p.stdout is not None and p.stdout.readline().strip() == "open"
    return p


def test_a_store_another_process_holds_is_refused_and_nobody_gets_in_meanwhile(
        tmp_path: Path) -> None:
    path = thinned_store(tmp_path / "s.db", days=35)
    before = dump(path)
    holder = _holder(path)
    try:
        with pytest.raises(Busy):
            Exclusive(path)
    finally:
        holder.kill()
        holder.wait()
    assert dump(path) == before
    with Exclusive(path) as db:
        # held: another process can neither read nor write until it closes
        code = ("import sys; from store.db import Store\n"
                "try:\n Store(sys.argv[1], busy_timeout_s=0.5)\n"
                "except Exception as e: print(type(e).__name__, e)")
        out = subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, text=True,
                             capture_output=True, timeout=60).stdout
        assert out.startswith("StoreError") and "locked" in out, out
        compact(db)
    assert dump(path) == before


def test_a_store_failing_integrity_check_is_left_as_it_was(tmp_path: Path) -> None:
    path = thinned_store(tmp_path / "s.db", days=35)
    # Two indexes of one table swap their b-trees: every page is sound (quick_check passes),
    # the indexes no longer match the rows (only integrity_check sees it).
    conn = sqlite3.connect(path, isolation_level=None)
    idx = conn.execute("SELECT name, rootpage FROM sqlite_master WHERE type = 'index' AND "
                       "tbl_name = 'decisions' AND sql IS NOT NULL ORDER BY name").fetchall()
    assert len(idx) >= 2, idx
    (a, ra), (b, rb) = idx[:2]
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET rootpage = ? WHERE name = ?", (rb, a))
    conn.execute("UPDATE sqlite_master SET rootpage = ? WHERE name = ?", (ra, b))
    conn.close()
    before, size, mtime = dump(path), path.stat().st_size, path.stat().st_mtime_ns

    with Exclusive(path) as db, pytest.raises(NotCompacted, match="integrity_check before"):
        compact(db)

    assert (path.stat().st_size, path.stat().st_mtime_ns) == (size, mtime)
    assert dump(path) == before


def test_what_is_not_a_store_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff\x13junk" * 900)
    with pytest.raises(NotCompacted, match="not a database"):
        Exclusive(path)
    assert path.read_bytes() == b"SQLite format 3\x00" + b"\xff\x13junk" * 900
    with pytest.raises(NotCompacted, match="cannot open"):
        Exclusive(tmp_path / "absent.db")  # never created
    assert not (tmp_path / "absent.db").exists()

