"""Open the SQLite store: pragmas, integrity check, migrations, and the write transaction.

Every write goes through `Store.write()`, a short `BEGIN IMMEDIATE` transaction: a
deferred BEGIN that later writes fails at once with "database is locked" under several
writer processes, whatever the busy timeout (see docs/api-notes).

Opening never repairs or recreates anything: a file that is not a SQLite database, or that
fails `PRAGMA quick_check`, is reported and left byte-for-byte as it was.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from store.migrations import latest_version, migrations

if TYPE_CHECKING:
    import sqlite_utils

SQLITE_HEADER = b"SQLite format 3\x00"
_CORRUPT_HINT = "restore a backup; the file was left as it is, not recreated"


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
    if buf.strip() and not all(ln.strip().startswith("--") or not ln.strip()
                               for ln in buf.splitlines()):
        stmts.append(buf.strip())
    return stmts


def _is_full(e: sqlite3.Error) -> bool:
    return "is full" in str(e).lower()  # SQLITE_FULL: "database or disk is full"


class _LazyDatabase:
    """Stands in for the sqlite_utils Database of a Store until it is first used."""

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store.db, name)

    def __getitem__(self, name: str) -> Any:
        return self._store.db[name]


class Store:
    """One connection to the store. Use one Store per thread (or guard it yourself)."""

    def __init__(self, path: str | Path, *, create: bool = True, busy_timeout_s: float = 10.0,
                 check: bool = True) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._check_file(create)
        try:
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves.
            self.conn = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None,
                                        check_same_thread=False)
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot open the store ({e})") from None
        try:
            self.conn.row_factory = sqlite3.Row
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            # Check before anything that could write (journal mode, migrations).
            if check:
                rows = self.conn.execute("PRAGMA quick_check(3)").fetchall()
                if rows[0][0] != "ok":
                    found = " / ".join(" ".join(str(r[0]).split()) for r in rows)
                    raise StoreError(f"{self.path}: database is corrupt (quick_check: "
                                     f"{found}); {_CORRUPT_HINT}")
            self._check_version()
            self._set_wal()
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self.conn.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as e:
            self.conn.close()
            raise self._error(e) from None
        except BaseException:
            self.conn.close()
            raise

    @cached_property
    def db(self) -> sqlite_utils.Database:
        """sqlite_utils on the same connection; imported on first use (it pulls in pandas)."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    # -- opening ----------------------------------------------------------------------
    def _check_file(self, create: bool) -> None:
        p = self.path
        if not p.exists():
            if not create:
                raise StoreError(f"{p}: store not found (start `cappuccino supervise` "
                                 "or check [store] path)")
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"{p}: cannot create the store's folder "
                                 f"({e.strerror})") from None
            if not os.access(p.parent, os.W_OK | os.X_OK):
                raise StoreError(f"{p}: cannot create the store: folder {p.parent} "
                                 "is not writable")
            return
        if not p.is_file():
            raise StoreError(f"{p}: not a file (check [store] path)")
        if not os.access(p, os.R_OK | os.W_OK):
            raise StoreError(f"{p}: store is not readable and writable by this user "
                             f"(mode {p.stat().st_mode & 0o777:04o}); check its owner and mode")
        if not os.access(p.parent, os.W_OK | os.X_OK):
            # WAL needs the -wal and -shm files next to the store.
            raise StoreError(f"{p}: folder {p.parent} is not writable (the store's WAL "
                             "files live there)")
        try:
            with p.open("rb") as f:
                head = f.read(len(SQLITE_HEADER))
        except OSError as e:
            raise StoreError(f"{p}: cannot read the store ({e.strerror})") from None
        # An empty file holds nothing to lose: SQLite makes it a new database.
        if head and head != SQLITE_HEADER:
            raise StoreError(f"{p}: not a SQLite database (bad header); {_CORRUPT_HINT}")

    def _error(self, e: sqlite3.Error) -> StoreError:
        msg = str(e)
        if "not a database" in msg or "malformed" in msg or "corrupt" in msg:
            return StoreError(f"{self.path}: database is corrupt ({msg}); {_CORRUPT_HINT}")
        if "unable to open" in msg or "readonly" in msg:
            return StoreError(f"{self.path}: cannot open the store ({msg})")
        if "locked" in msg or "busy" in msg:
            return StoreError(f"{self.path}: store stayed locked for more than "
                              f"{self.busy_timeout_s:g} s ({msg})")
        if _is_full(e):
            return StoreError(f"{self.path}: disk full ({msg})")
        return StoreError(f"{self.path}: {msg}")

    def _set_wal(self) -> None:
        # Switching to WAL takes an exclusive lock; several processes opening a new store
        # at once can see SQLITE_BUSY here without the busy handler, so retry until the
        # busy timeout.
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        if str(mode).lower() != "wal":
            raise StoreError(f"{self.path}: cannot use WAL mode (journal_mode is {mode}); "
                             "put the store on a local file system")

    # -- schema -----------------------------------------------------------------------
    @property
    def version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _check_version(self) -> None:
        target = latest_version()
        if self.version > target:
            raise StoreError(f"{self.path}: schema version {self.version} is newer than this "
                             f"Cappuccino understands ({target}); upgrade Cappuccino")

    def _migrate(self) -> None:
        target = latest_version()
        self._check_version()
        if self.version == target:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            current = self.version  # re-read under the lock: another process may have migrated
            for version, name, sql in migrations():
                if version <= current:
                    continue
                for stmt in _split_sql(sql):
                    try:
                        self.conn.execute(stmt)
                    except sqlite3.OperationalError as e:
                        raise StoreError(f"{self.path}: migration {name} failed ({e}); "
                                         "the store was left at version "
                                         f"{current}") from None
                self.conn.execute(f"PRAGMA user_version = {version}")
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    # -- access -----------------------------------------------------------------------
    @contextmanager
    def write(self, min_free_mb: float = 0.0) -> Iterator[sqlite_utils.Database]:
        """A short BEGIN IMMEDIATE transaction; commits on success, rolls back on error.

        For a large write pass `min_free_mb`: the free space is checked before BEGIN, so a
        full disk refuses the write up front instead of failing half-way.
        """
        if min_free_mb > 0:
            ensure_free_space(self.path, min_free_mb, "write to the store")
        if self.conn.in_transaction:
            raise StoreError(f"{self.path}: nested write() (a transaction is already open)")
        # Most writers use self.conn; sqlite_utils (which imports pandas, ~0.5 s) is only
        # loaded when the yielded object is first used.
        db = self.__dict__.get("db") or _LazyDatabase(self)
        self._begin_immediate()
        try:
            yield cast("sqlite_utils.Database", db)
        except sqlite3.OperationalError as e:
            self._rollback()
            if _is_full(e):
                raise StoreError(f"{self.path}: disk full, write rolled back ({e})") from None
            raise
        except BaseException:
            self._rollback()
            raise
        else:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.OperationalError as e:
                self._rollback()
                if _is_full(e):
                    raise StoreError(f"{self.path}: disk full, write rolled back") from None
                raise

    def _begin_immediate(self) -> None:
        """BEGIN IMMEDIATE, waiting for other writers at most busy_timeout_s.

        SQLite's own busy handler backs off to 100 ms sleeps, so under steady contention a
        waiting writer keeps losing the lock to busier ones (seconds-long stalls measured with
        4 writers). Polling with short sleeps keeps every writer's wait close to the time the
        others actually hold the lock.
        """
        timeout_ms = self.one("PRAGMA busy_timeout")[0]
        deadline = time.monotonic() + timeout_ms / 1000
        delay = 0.0002
        self.conn.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as e:
                    if "locked" not in str(e) and "busy" not in str(e):
                        raise StoreError(f"{self.path}: cannot start a write "
                                         f"({self._error(e)})") from None
                    if time.monotonic() >= deadline:
                        raise StoreError(f"{self.path}: cannot start a write: another process "
                                         f"held the write lock for more than "
                                         f"{timeout_ms / 1000:g} s (database is locked)"
                                         ) from None
                time.sleep(delay)
                delay = min(delay * 1.5, 0.002)
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {timeout_ms}")

    def _rollback(self) -> None:
        # SQLite may already have rolled back (e.g. after SQLITE_FULL); ROLLBACK would then
        # fail and hide the original error.
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

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
