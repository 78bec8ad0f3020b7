"""Open the SQLite store: pragmas, integrity check, migrations, and the write transaction.

Every write goes through `Store.write()`, a short `BEGIN IMMEDIATE` transaction: a
deferred BEGIN that later writes fails at once with "database is locked" under several
writer processes, whatever the busy timeout (see docs/api-notes).
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from store.migrations import latest_version, migrations


class StoreError(Exception):
    """A store problem, phrased for the operator (path and what is wrong)."""


def now() -> float:
    """UTC unix seconds; the store's only clock."""
    return time.time()


def free_mb(path: str | Path) -> float:
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free / 1e6


def ensure_free_space(path: str | Path, min_mb: float, what: str = "write") -> None:
    """Refuse a large write up front rather than fail half-way through it."""
    have = free_mb(path)
    if have < min_mb:
        raise StoreError(f"{path}: only {have:.0f} MB free, {min_mb:.0f} MB needed to {what}")


def _split_sql(script: str) -> list[str]:
    stmts, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                stmts.append(buf.strip())
            buf = ""
    if buf.strip() and not buf.strip().startswith("--"):
        stmts.append(buf.strip())
    return stmts


class Store:
    """One connection to the store. Use one Store per thread (or guard it yourself)."""

    def __init__(self, path: str | Path, *, create: bool = True, busy_timeout_s: float = 10.0,
                 check: bool = True) -> None:
        self.path = Path(path)
        if not self.path.exists():
            if not create:
                raise StoreError(f"{self.path}: store not found (start `cappuccino supervise` "
                                 "or check [store] path)")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"{self.path}: cannot create the store's folder: {e.strerror}") from None
        elif not self.path.is_file():
            raise StoreError(f"{self.path}: not a file")
        try:
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves.
            self.conn = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None,
                                        check_same_thread=False)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self.conn.execute("PRAGMA foreign_keys = ON")
            if check:
                result = self.conn.execute("PRAGMA quick_check").fetchone()[0]
                if result != "ok":
                    raise StoreError(f"{self.path}: database is corrupt (quick_check: {result}); "
                                     "restore a backup, it was not recreated")
            self._migrate()
        except sqlite3.DatabaseError as e:
            msg = str(e)
            if "not a database" in msg or "malformed" in msg:
                raise StoreError(f"{self.path}: database is corrupt ({msg}); restore a backup, "
                                 "it was not recreated") from None
            if "unable to open" in msg or "readonly" in msg:
                raise StoreError(f"{self.path}: cannot open the store ({msg})") from None
            raise StoreError(f"{self.path}: {msg}") from None
        self.db = sqlite_utils.Database(self.conn)

    # -- schema -----------------------------------------------------------------------
    @property
    def version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        target = latest_version()
        if self.version > target:
            raise StoreError(f"{self.path}: schema version {self.version} is newer than this "
                             f"Cappuccino understands ({target}); upgrade Cappuccino")
        if self.version == target:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            current = self.version  # re-read under the lock: another process may have migrated
            for version, _name, sql in migrations():
                if version <= current:
                    continue
                for stmt in _split_sql(sql):
                    self.conn.execute(stmt)
                self.conn.execute(f"PRAGMA user_version = {version}")
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    # -- access -----------------------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """A short BEGIN IMMEDIATE transaction; commits on success, rolls back on error."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise StoreError(f"{self.path}: cannot start a write ({e})") from None
        try:
            yield self.db
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.OperationalError as e:
                self.conn.execute("ROLLBACK")
                if "full" in str(e).lower():
                    raise StoreError(f"{self.path}: disk full, write rolled back") from None
                raise

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, params).fetchone()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
