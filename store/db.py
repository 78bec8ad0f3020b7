"""Open the SQLite store: pragmas, integrity check, migrations, and the write transaction.

THE RULE: the store file is SQLite's alone. Never `open()`, `os.open()`, copy, checksum or
read the header of the database or its `-wal`/`-shm` from a process that may hold a
connection to it (and every Cappuccino process may): on POSIX, closing any descriptor of a
file drops every fcntl lock the process holds on it, its SQLite connection's included, and
another process then checkpoints and deletes the WAL under it (the store ends corrupt, see
SQLite's "How To Corrupt An SQLite Database File", section 2.2). Ask SQLite instead
(`PRAGMA schema_version` detects a file that is not a database; `VACUUM INTO` copies);
`os.stat`/`os.access` are fine. tests/store/test_file_rule.py enforces it.

One connection per process and file, shared by its threads (store.connection): a `Store` is
a handle on it. New stores (and so their -wal/-shm) are created mode 0600.

Every write goes through `Store.write()`, a short `BEGIN IMMEDIATE` transaction: a
deferred BEGIN that later writes fails at once with "database is locked" under several
writer processes, whatever the busy timeout (see docs/api-notes).

Opening never repairs or recreates anything: a file that is not a SQLite database, or that
fails `PRAGMA quick_check`, is reported and left byte-for-byte as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from store import connection
from store.compact import Pages
from store.migrations import latest_version, migrations

if TYPE_CHECKING:
    import sqlite_utils

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


def _create_whole(path: Path) -> None:
    """Create a new store so it appears with its header already written: an empty SQLite
    file in WAL mode built under a temporary name, mode 0600, then linked into place. Another
    process creating the same store at once loses the link and opens the winner's file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    with contextlib.suppress(OSError):
        tmp.unlink()  # a leftover of a crashed process that had our pid
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)  # SQLite makes the file
        try:
            # The operator's alone, whatever the umask; -wal/-shm take the file's mode, so
            # this comes before the header (and WAL) is written.
            os.chmod(tmp, 0o600)
            conn.execute("PRAGMA journal_mode = WAL").fetchone()  # writes the header
        finally:
            conn.close()
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: open theirs
        except OSError:  # a filesystem without hard links: a rename, if still nobody's there
            if not path.exists():
                os.replace(tmp, path)
    except (OSError, sqlite3.Error) as e:
        raise StoreError(f"{path}: cannot create the store ({e})") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


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
    """A handle on the process's shared connection to the store (see module docstring).

    Any number of handles, in any threads, may be open at once; each `close()` drops one
    reference and the last closes the connection. Reads go through `query()`/`one()`; use
    `conn` directly only inside `write()` (or in a process with one thread).
    """

    def __init__(self, path: str | Path, *, create: bool = True, busy_timeout_s: float = 10.0,
                 check: bool = True, min_free_mb: float = 0.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self.min_free_mb = min_free_mb  # [store] min_free_mb: the floor of large_write()
        self._check_file(create)
        self._key = connection.key_of(self.path)
        self._shared = connection.acquire(self.path, lambda: self._open(check))
        # Dropped without close(): the collector queues the release (store.connection).
        self._finalizer = weakref.finalize(self, connection.release_later, self._key,
                                           self._shared)
        if check and not self._shared.checked:
            try:
                with self._shared.locked():
                    self._quick_check()
            except BaseException:
                self.close()
                raise
            self._shared.checked = True

    def file_lost(self) -> str | None:
        """How the store's path stopped naming the file this connection opened ("deleted",
        "replaced by another file"), else None. Writes then go to a file nobody else reads.
        A stat that fails for another reason (EIO, EACCES) is no proof: None."""
        try:
            st = os.stat(self._key[1])
        except (FileNotFoundError, NotADirectoryError):
            return "deleted"
        except OSError:
            return None
        return None if (st.st_dev, st.st_ino) == self._shared.ident else "replaced by another file"

    @property
    def conn(self) -> sqlite3.Connection:
        return self._shared.conn

    def _open(self, check: bool) -> connection.SharedConnection:
        """A new connection: pragmas, checks, WAL, migrations; closed again on any error."""
        created = not self.path.exists()
        try:
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves.
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s,
                                   isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot open the store ({e})") from None
        busy_ms = int(self.busy_timeout_s * 1000)
        ident = connection.file_ident(str(self.path)) or (0, 0)
        shared = connection.SharedConnection(conn, ident, busy_ms)
        try:
            if created:
                # The operator's alone, whatever the umask; SQLite gives -wal/-shm the
                # database file's mode, so this comes before WAL is switched on.
                os.chmod(self.path, 0o600)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
            # SQLite reads the header here: a file that is not a database fails now, before
            # anything could write to it (journal mode, migrations).
            conn.execute("PRAGMA schema_version").fetchone()
            if check:
                self._quick_check(conn)
                shared.checked = True
            self._check_version(conn)
            self._set_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._migrate(conn)
        except sqlite3.DatabaseError as e:
            conn.close()
            raise self._error(e) from None
        except BaseException:
            conn.close()
            raise
        return shared

    def _quick_check(self, conn: sqlite3.Connection | None = None) -> None:
        rows = (conn or self.conn).execute("PRAGMA quick_check(3)").fetchall()
        if rows[0][0] != "ok":
            found = " / ".join(" ".join(str(r[0]).split()) for r in rows)
            raise StoreError(f"{self.path}: database is corrupt (quick_check: "
                             f"{found}); {_CORRUPT_HINT}")

    @cached_property
    def db(self) -> sqlite_utils.Database:
        """sqlite_utils on the same connection; imported on first use (it pulls in pandas)."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    # -- opening ----------------------------------------------------------------------
    def _check_file(self, create: bool) -> None:
        # Only stat/access here: never open() the file (module docstring).
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
            _create_whole(p)
            return
        if not p.is_file():
            raise StoreError(f"{p}: not a file (check [store] path)")
        if p.stat().st_size == 0:
            # New stores appear whole (_create_whole): an empty file is a cut-short copy or
            # a mistake, never a store to fill in silently.
            raise StoreError(f"{p}: 0-byte file, not a store; restore a backup, or remove "
                             "it to start a new store; the file was left as it is")
        if not os.access(p, os.R_OK | os.W_OK):
            raise StoreError(f"{p}: store is not readable and writable by this user "
                             f"(mode {p.stat().st_mode & 0o777:04o}); check its owner and mode")
        if not os.access(p.parent, os.W_OK | os.X_OK):
            # WAL needs the -wal and -shm files next to the store.
            raise StoreError(f"{p}: folder {p.parent} is not writable (the store's WAL "
                             "files live there)")

    def _error(self, e: sqlite3.Error) -> StoreError:
        msg = str(e)
        if "not a database" in msg:
            return StoreError(f"{self.path}: not a SQLite database ({msg}); {_CORRUPT_HINT}")
        if "malformed" in msg or "corrupt" in msg:
            return StoreError(f"{self.path}: database is corrupt ({msg}); {_CORRUPT_HINT}")
        if "unable to open" in msg or "readonly" in msg:
            return StoreError(f"{self.path}: cannot open the store ({msg})")
        if "locked" in msg or "busy" in msg:
            return StoreError(f"{self.path}: store stayed locked for more than "
                              f"{self.busy_timeout_s:g} s ({msg})")
        if _is_full(e):
            return StoreError(f"{self.path}: disk full ({msg})")
        return StoreError(f"{self.path}: {msg}")

    def _set_wal(self, conn: sqlite3.Connection) -> None:
        # Switching to WAL takes an exclusive lock; several processes opening a new store
        # at once can see SQLITE_BUSY here without the busy handler, so retry until the
        # busy timeout.
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
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
        # a PRAGMA query always returns exactly one row
        return int(cast(sqlite3.Row, self.one("PRAGMA user_version"))[0])

    def integrity(self) -> str:
        """SQLite's full integrity_check: "ok", or the first problem it found."""
        # integrity_check always returns at least one row ("ok" or the first problem)
        return str(cast(sqlite3.Row, self.one("PRAGMA integrity_check"))[0])

    def pages(self) -> Pages:
        """Page size, pages in the file and free pages (thinning leaves free pages behind)."""
        def pragma(name: str) -> int:
            return int(cast(sqlite3.Row, self.one(f"PRAGMA {name}"))[0])
        return Pages(pragma("page_size"), pragma("page_count"), pragma("freelist_count"))

    def _check_version(self, conn: sqlite3.Connection) -> None:
        target = latest_version()
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > target:
            raise StoreError(f"{self.path}: schema version {version} is newer than this "
                             f"Cappuccino understands ({target}); upgrade Cappuccino")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        self._check_version(conn)
        if int(conn.execute("PRAGMA user_version").fetchone()[0]) == latest_version():
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the lock: another process may have migrated meanwhile.
            current = int(conn.execute("PRAGMA user_version").fetchone()[0])
            for version, name, sql in migrations():
                if version <= current:
                    continue
                for stmt in _split_sql(sql):
                    try:
                        conn.execute(stmt)
                    except sqlite3.OperationalError as e:
                        raise StoreError(f"{self.path}: migration {name} failed ({e}); "
                                         "the store was left at version "
                                         f"{current}") from None
                conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # -- access -----------------------------------------------------------------------
    def large_write(self) -> AbstractContextManager[sqlite_utils.Database]:
        """write() for a batch of rows: refused up front below this store's min_free_mb."""
        return self.write(self.min_free_mb)

    @contextmanager
    def write(self, min_free_mb: float = 0.0) -> Iterator[sqlite_utils.Database]:
        """A short BEGIN IMMEDIATE transaction; commits on success, rolls back on error.

        The process's other threads wait for it (one connection); other processes wait for
        SQLite's write lock. For a large write pass `min_free_mb`: the free space is checked
        before BEGIN, so a full disk refuses the write up front instead of failing half-way.
        """
        if min_free_mb > 0:
            ensure_free_space(self.path, min_free_mb, "write to the store")
        sh = self._shared
        if sh.held():
            raise StoreError(f"{self.path}: nested write() (a transaction is already open)")
        # Most writers use self.conn; sqlite_utils (which imports pandas, ~0.5 s) is only
        # loaded when the yielded object is first used.
        db = self.__dict__.get("db") or _LazyDatabase(self)
        self._begin_immediate()  # returns holding sh's lock
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
        finally:
            sh.release()

    def _begin_immediate(self) -> None:
        """BEGIN IMMEDIATE, waiting for other writers at most busy_timeout_s; on success the
        caller holds the shared connection's lock.

        SQLite's own busy handler backs off to 100 ms sleeps, so under steady contention a
        waiting writer keeps losing the lock to busier ones (seconds-long stalls measured with
        4 writers). Polling with short sleeps keeps every writer's wait close to the time the
        others actually hold the lock. The thread lock is let go between tries, so the
        process's readers are not held up by another process's writer.
        """
        sh = self._shared
        deadline = time.monotonic() + self.busy_timeout_s
        delay = 0.0002
        while True:
            if not sh.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise StoreError(f"{self.path}: cannot start a write: this process's other "
                                 f"threads held the store for more than "
                                 f"{self.busy_timeout_s:g} s")
            try:
                self.conn.execute("PRAGMA busy_timeout = 0")
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                    return
                finally:
                    self.conn.execute(f"PRAGMA busy_timeout = {sh.busy_ms}")
            except sqlite3.OperationalError as e:
                sh.release()
                if "locked" not in str(e) and "busy" not in str(e):
                    raise StoreError(f"{self.path}: cannot start a write "
                                     f"({self._error(e)})") from None
            except BaseException:
                sh.release()
                raise
            if time.monotonic() >= deadline:
                raise StoreError(f"{self.path}: cannot start a write: another process "
                                 f"held the write lock for more than "
                                 f"{self.busy_timeout_s:g} s (database is locked)") from None
            time.sleep(delay)
            delay = min(delay * 1.5, 0.002)

    def _rollback(self) -> None:
        # SQLite may already have rolled back (e.g. after SQLITE_FULL); ROLLBACK would then
        # fail and hide the original error.
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._shared.locked():
            return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        with self._shared.locked():
            row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
            return row

    def close(self) -> None:
        """Drop this handle (idempotent); the process's last handle closes the connection."""
        if self._finalizer.detach() is not None:
            connection.release(self._key, self._shared)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
