"""Store opening, pragmas, write transactions and every bad-input path, on real files."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from store import connection
from store.db import Store, StoreError, ensure_free_space, free_mb
from store.migrations import latest_version


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def filled_store(path: Path, rows: int = 3000) -> Path:
    """A checkpointed store with enough pages that damage lands inside real b-trees."""
    with Store(path) as s:
        with s.write():
            s.conn.executemany("INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?)",
                               [(f"k{i:05d}", "v" * 200, float(i)) for i in range(rows)])
        s.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def test_pragmas_wal_normal_busy_timeout(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as s:
        assert s.one("PRAGMA journal_mode")[0] == "wal"
        assert s.one("PRAGMA synchronous")[0] == 1  # NORMAL
        assert s.one("PRAGMA busy_timeout")[0] >= 5000
        assert s.one("PRAGMA foreign_keys")[0] == 1
        assert s.version == latest_version()
    # journal_mode is stored in the file: a plain connection sees WAL too.
    conn = sqlite3.connect(tmp_path / "s.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_busy_timeout_follows_argument(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db", busy_timeout_s=7.5) as s:
        assert s.one("PRAGMA busy_timeout")[0] == 7500


def test_busy_timeout_kept_across_writes(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as s:
        with s.write():
            s.conn.execute("INSERT INTO kv VALUES ('a', '1', 0)")
        assert s.one("PRAGMA busy_timeout")[0] == 10000


def test_write_commits_and_rolls_back(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as s:
        with s.write() as db:
            db["kv"].insert({"key": "a", "value": "1", "updated_at": 0.0})
        with pytest.raises(RuntimeError), s.write():
            s.conn.execute("INSERT INTO kv VALUES ('b', '2', 0)")
            raise RuntimeError("boom")
        assert [r["key"] for r in s.query("SELECT key FROM kv")] == ["a"]
        assert not s.conn.in_transaction


def other_connection(path: Path, busy_ms: int = 50) -> sqlite3.Connection:
    """A second SQLite connection: stands in for another process (Stores share one)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
    return conn


def test_write_is_begin_immediate(tmp_path: Path) -> None:
    """Inside write() the write lock is already held: a second writer cannot begin."""
    path = tmp_path / "s.db"
    with Store(path) as a:
        b = other_connection(path)
        with a.write():
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                b.execute("BEGIN IMMEDIATE")
            # Readers are not blocked by the writer (WAL).
            assert b.execute("SELECT count(*) FROM kv").fetchone()[0] == 0
        b.close()


def test_write_lock_timeout_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path, busy_timeout_s=0.2) as s:
        other = other_connection(path)
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match=r"cannot start a write.*locked"), s.write():
            pass
        assert s.one("PRAGMA busy_timeout")[0] == 200  # restored after waiting
        other.execute("COMMIT")
        with s.write():  # usable once the lock is free
            s.conn.execute("INSERT INTO kv VALUES ('x', '1', 0)")
        other.close()


def test_handles_share_one_connection_across_threads(tmp_path: Path) -> None:
    """Stores of one process share a connection; threads' transactions never interleave."""
    path = tmp_path / "s.db"
    stores = [Store(path) for _ in range(4)]
    assert len({id(s.conn) for s in stores}) == 1 and connection.open_count(path) == 4
    seen_partial: list[int] = []

    def writer(s: Store, tag: int) -> None:
        for b in range(30):
            with s.write():
                for i in range(5):
                    s.conn.execute("INSERT INTO kv VALUES (?, 'v', 0)", (f"{tag}-{b}-{i}",))

    def reader(s: Store) -> None:
        for _ in range(200):
            n = s.one("SELECT count(*) FROM kv")[0]
            if n % 5:
                seen_partial.append(n)

    threads = [threading.Thread(target=writer, args=(stores[i], i)) for i in range(3)]
    threads.append(threading.Thread(target=reader, args=(stores[3],)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not seen_partial  # no thread saw another's half-written transaction
    assert stores[0].one("SELECT count(*) FROM kv")[0] == 3 * 30 * 5
    for s in stores[:-1]:
        s.close()
    assert connection.open_count(path) == 1  # the last handle keeps it open
    stores[-1].close()
    stores[-1].close()  # idempotent
    assert connection.open_count(path) == 0


def test_replaced_file_gets_a_new_connection(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    first = Store(path)
    with first.write():
        first.conn.execute("INSERT INTO kv VALUES ('old', '1', 0)")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with Store(path) as second:
        assert second.conn is not first.conn
        assert second.one("SELECT count(*) FROM kv")[0] == 0
    first.close()


def test_nested_write_refused(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as s:
        with s.write(), pytest.raises(StoreError, match="nested write"), s.write():
            pass
        assert not s.conn.in_transaction


def test_missing_store_without_create(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "s.db"
    with pytest.raises(StoreError, match=r"s\.db: store not found"):
        Store(path, create=False)
    assert not path.exists() and not path.parent.exists()


def test_store_path_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "s.db").mkdir()
    with pytest.raises(StoreError, match="not a file"):
        Store(tmp_path / "s.db")


def test_store_folder_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot create the store's folder"):
        Store(tmp_path / "file" / "s.db")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_store(tmp_path: Path) -> None:
    path = filled_store(tmp_path / "s.db", rows=10)
    path.chmod(0o000)
    try:
        with pytest.raises(StoreError, match=r"not readable.*mode 0000"):
            Store(path)
    finally:
        path.chmod(0o600)


def _garbage(b: bytes) -> bytes:
    return bytes((x * 7 + 13) % 256 for x in b)


CORRUPTIONS = {
    "garbage": _garbage,
    "truncated_half": lambda b: b[: len(b) // 2],
    "truncated_last_page": lambda b: b[: len(b) - 4096],
    "header_then_garbage": lambda b: b[:100] + _garbage(b[100:]),
    "page_overwritten": lambda b: b[:8192] + b"\xff" * 4096 + b[12288:],
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupt_store_reported_and_untouched(tmp_path: Path, kind: str) -> None:
    good = filled_store(tmp_path / "good.db")
    bad = tmp_path / "bad.db"
    bad.write_bytes(CORRUPTIONS[kind](good.read_bytes()))
    before = digest(bad)
    with pytest.raises(StoreError) as e:
        Store(bad)
    msg = str(e.value)
    assert str(bad) in msg and "\n" not in msg
    assert ("corrupt" in msg or "not a SQLite database" in msg) and "not recreated" in msg
    assert digest(bad) == before  # never repaired, never recreated
    with pytest.raises(StoreError):  # and still refused the second time
        Store(bad)


def test_newer_schema_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as s:
        s.conn.execute(f"PRAGMA user_version = {latest_version() + 1}")
        s.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = digest(path)
    with pytest.raises(StoreError, match=rf"schema version {latest_version() + 1} is newer"):
        Store(path)
    assert digest(path) == before


def test_disk_full_rolls_back_and_keeps_data(tmp_path: Path) -> None:
    """SQLITE_FULL (a page cap stands in for a full disk) loses no committed row."""
    with Store(tmp_path / "s.db") as s:
        with s.write():
            s.conn.execute("INSERT INTO kv VALUES ('kept', '1', 0)")
        pages = s.one("PRAGMA page_count")[0]
        s.conn.execute(f"PRAGMA max_page_count = {pages + 5}")
        with pytest.raises(StoreError, match="disk full, write rolled back"), s.write():
            s.conn.executemany("INSERT INTO kv VALUES (?, ?, 0)",
                               [(f"k{i}", "x" * 1000) for i in range(2000)])
        assert not s.conn.in_transaction
        assert [r[0] for r in s.query("SELECT key FROM kv")] == ["kept"]
        with s.write():  # the store is still usable
            s.conn.execute("INSERT INTO kv VALUES ('after', '1', 0)")
        assert s.one("PRAGMA integrity_check")[0] == "ok"


def test_free_space_checked_before_large_write(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    too_much = free_mb(tmp_path) * 10 + 1e6
    with pytest.raises(StoreError, match=rf"{path.name}: only \d+ MB free, \d+ MB needed"):
        ensure_free_space(path, too_much, "save a checkpoint")
    ensure_free_space(path, 1)  # plenty for 1 MB
    with Store(path) as s:
        with (pytest.raises(StoreError, match="MB needed to write to the store"),
              s.write(min_free_mb=too_much)):
            s.conn.execute("INSERT INTO kv VALUES ('never', '1', 0)")
        assert not s.conn.in_transaction
        assert s.one("SELECT count(*) FROM kv")[0] == 0
        with s.write(min_free_mb=1):
            s.conn.execute("INSERT INTO kv VALUES ('ok', '1', 0)")


def test_collected_handle_never_deadlocks(tmp_path: Path) -> None:
    """The garbage collector may free a forgotten handle in a thread that holds the
    registry lock (it runs at any allocation, e.g. while a Store opens): releasing it there
    must not wait for that lock."""
    import gc

    path = tmp_path / "s.db"
    keep = Store(path)
    lost = Store(path)
    lost.cycle = lost  # type: ignore[attr-defined]  # only the collector can free it
    del lost
    assert connection.open_count(path) == 2

    def collect_under_the_lock() -> None:
        with connection._REGISTRY_LOCK:
            gc.collect()

    t = threading.Thread(target=collect_under_the_lock, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "deadlock: the collector waited for the registry lock"
    with Store(path):  # the queued release is carried out by the next acquire
        assert connection.open_count(path) == 2
    assert connection.open_count(path) == 1
    keep.close()
    assert connection.open_count(path) == 0


def test_a_zero_byte_file_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"")
    with pytest.raises(StoreError, match="0-byte file, not a store"):
        Store(path)
    assert path.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db"]  # no -wal, no temp file


_OPENER = """
import sys
from store.db import Store
from store.migrations import latest_version
sys.stdin.readline()  # all start together
with Store(sys.argv[1]) as s:
    assert s.version == latest_version()
"""


def test_processes_creating_one_new_store_at_once_all_open_it(tmp_path: Path) -> None:
    """A new store appears with its header written: a racing opener never sees 0 bytes."""
    import subprocess
    import sys

    for round_ in range(3):
        path = tmp_path / f"s{round_}.db"
        procs = [subprocess.Popen([sys.executable, "-c", _OPENER, str(path)],
                                  stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(6)]
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        assert path.stat().st_mode & 0o777 == 0o600
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".new")]
