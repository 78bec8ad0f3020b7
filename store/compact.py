"""Give a store's free pages back to the disk: an offline, in-place VACUUM.

Why in place and not `VACUUM INTO` a copy renamed over the store: a rename gives the store a
new inode, and any process that still (or, in the moment before the rename, newly) holds the
old one writes to a deleted file that nobody else reads: the split store of issue 10. In
place, the file keeps its identity and SQLite's own locks and atomic commit guard it: the new
pages go to the WAL and count only once committed, so a kill (even SIGKILL) or a full disk
at any point leaves the old store, or the finished one, never a mix; the checkpoint that
copies them back is itself replayed from the WAL after a crash.

The connection takes SQLite's EXCLUSIVE lock for the whole job (`locking_mode = EXCLUSIVE`):
it is refused while any other process has the store open (an idle connection holds a shared
lock on the WAL index), and once held, no other process can read or write until it closes.

VACUUM builds the new database in a temporary file first; it is put in the store's own folder
(`temp_store_directory`), so one file system holds both it and the WAL, and the free-space
check covers both: up to twice the pages in use (each WAL frame has a 24-byte header).
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

WAL_FRAME_HEADER = 24
MARGIN_BYTES = 1 << 20  # the WAL header, a few pages more than counted


class Busy(Exception):
    """Another process holds the store (SQLite refused the exclusive lock)."""


class NotCompacted(Exception):
    """Compaction could not run or failed; the store is as it was (phrased for the operator)."""


@dataclass(frozen=True)
class Pages:
    page_size: int
    page_count: int
    freelist: int

    @property
    def file_bytes(self) -> int:
        return self.page_size * self.page_count

    @property
    def used_bytes(self) -> int:
        return self.page_size * (self.page_count - self.freelist)

    @property
    def free_bytes(self) -> int:
        return self.page_size * self.freelist

    def needed_bytes(self) -> int:
        """Disk the VACUUM may take in the store's folder: the temporary copy of the pages in
        use, and the WAL holding them again (page + frame header each); 2 % more, should the
        rebuilt b-trees pack less tightly."""
        per_page = 2 * self.page_size + WAL_FRAME_HEADER
        return (self.page_count - self.freelist) * per_page * 51 // 50 + MARGIN_BYTES


@dataclass(frozen=True)
class Compacted:
    before: Pages
    after: Pages
    bytes_before: int  # the file as stat sees it, WAL excluded
    bytes_after: int
    seconds: float  # the VACUUM and its checkpoint, the integrity checks excluded
    check_seconds: float  # both integrity checks


class Exclusive:
    """An exclusive connection to an existing store; `Busy` when anyone else has it open."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            # timeout 0: a holder is reported at once, never waited for. isolation_level
            # None: BEGIN/COMMIT are ours. mode=rw: never creates a file.
            self.conn = sqlite3.connect(self.path.resolve().as_uri() + "?mode=rw", uri=True, timeout=0,
                                        isolation_level=None)
        except sqlite3.Error as e:
            raise NotCompacted(f"{self.path}: cannot open the store ({e})") from None
        try:
            self.conn.execute("PRAGMA schema_version").fetchone()  # not a database: fails here
            self.conn.execute("PRAGMA locking_mode = EXCLUSIVE").fetchone()
            self.conn.execute("BEGIN EXCLUSIVE")
            self.conn.execute("COMMIT")  # the lock stays until close (exclusive mode)
        except sqlite3.Error as e:
            self.conn.close()
            if "locked" in str(e) or "busy" in str(e):
                raise Busy(str(e)) from None
            raise NotCompacted(f"{self.path}: {e}; the store was left as it is") from None

    def pages(self) -> Pages:
        c = self.conn
        try:
            return Pages(int(c.execute("PRAGMA page_size").fetchone()[0]),
                         int(c.execute("PRAGMA page_count").fetchone()[0]),
                         int(c.execute("PRAGMA freelist_count").fetchone()[0]))
        except sqlite3.Error as e:
            raise NotCompacted(f"{self.path}: {e}; the store was left as it is") from None

    def recorded_processes(self) -> list[tuple[str, int, float | None]]:
        """(name, pid, create_time) of the processes table's rows with a pid: what the
        supervisor last saw running (it may have died and left them running)."""
        try:
            rows = self.conn.execute("SELECT name, pid, create_time FROM processes WHERE "
                                     "pid IS NOT NULL ORDER BY name").fetchall()
        except sqlite3.Error as e:
            raise NotCompacted(f"{self.path}: cannot read the processes table ({e}); the "
                               "store was left as it is (`cappuccino doctor` checks it)") \
                from None
        return [(str(n), int(p), None if c is None else float(c)) for n, p, c in rows]

    def integrity(self) -> str:
        """"ok", or the first problems; a page too broken to walk stops the check with an
        error, which is its finding too."""
        try:
            rows = self.conn.execute("PRAGMA integrity_check(3)").fetchall()
        except sqlite3.DatabaseError as e:
            return str(e)
        return " / ".join(" ".join(str(r[0]).split()) for r in rows)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Exclusive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def compact(db: Exclusive) -> Compacted:
    """Check, VACUUM, checkpoint into the file, check again. Raises NotCompacted when the
    store was not changed (a failed check, a full disk) or the check after failed."""
    path = db.path
    t0 = time.monotonic()
    found = db.integrity()
    if found != "ok":
        raise NotCompacted(f"{path}: integrity_check before compacting: {found}; nothing was "
                           "changed (restore a backup)")
    check_s = time.monotonic() - t0
    before = db.pages()
    bytes_before = os.stat(path).st_size
    # The temporary database next to the store, on the file system that was checked.
    folder = str(path.resolve().parent)
    t1 = time.monotonic()
    try:
        quoted = folder.replace("'", "''")
        db.conn.execute(f"PRAGMA temp_store_directory = '{quoted}'")
        if db.conn.execute("PRAGMA temp_store_directory").fetchone()[0] != folder:
            # a build without the (deprecated) pragma: the copy would land on another disk
            raise NotCompacted(f"{path}: this SQLite ignores temp_store_directory, so its "
                               "temporary copy could not be kept beside the store; nothing "
                               "was changed")
        db.conn.execute("VACUUM")
        busy, _, _ = db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.Error as e:
        # VACUUM is one transaction: on error SQLite rolled it back, the store is as it was.
        raise NotCompacted(f"{path}: VACUUM failed ({e}); the store was left as it was") \
            from None
    seconds = time.monotonic() - t1
    if busy:
        raise NotCompacted(f"{path}: the checkpoint after VACUUM could not finish; the "
                           "compacted store is whole in its WAL and is copied back by the "
                           "next checkpoint")
    t2 = time.monotonic()
    found = db.integrity()
    check_s += time.monotonic() - t2
    if found != "ok":
        raise NotCompacted(f"{path}: integrity_check after compacting: {found}")
    return Compacted(before, db.pages(), bytes_before, os.stat(path).st_size, seconds, check_s)
