"""One SQLite connection per process and store file, shared by the process's threads.

Why: on POSIX, closing ANY descriptor of a file drops EVERY fcntl lock the process holds on
it, its SQLite connections' locks included. A process that lost its locks lets another one
believe it is the last user: that one checkpoints and deletes `-wal`/`-shm` while this one
still writes to them, and the store ends corrupt. SQLite copes with several connections in
one process (it shares their locks internally); what it cannot see is a Python `open()`.
Sharing one connection keeps the number of descriptors (and lock owners) at one.

The registry is keyed by (pid, real path) and checks the file's (device, inode), so a store
that was deleted and created again, or a forked child, never reuses a stale connection.
Threads take `lock` around every statement and hold it for a whole write transaction, so no
thread ever reads another thread's uncommitted rows.

A handle dropped without `close()` is released by the garbage collector, which may run in
any thread at any allocation, even one holding the registry lock: so the collector only
queues the release (`release_later`), and the next acquire or release carries it out.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

_REGISTRY: dict[tuple[int, str], SharedConnection] = {}
_REGISTRY_LOCK = threading.Lock()
_PENDING: deque[tuple[tuple[int, str], SharedConnection]] = deque()  # from the collector


@dataclass(eq=False)
class SharedConnection:
    conn: sqlite3.Connection
    ident: tuple[int, int]  # (st_dev, st_ino) of the file it was opened on
    busy_ms: int
    pid: int = field(default_factory=os.getpid)
    refs: int = 1
    checked: bool = False  # quick_check passed on this connection
    lock: threading.Lock = field(default_factory=threading.Lock)
    owner: int | None = None  # thread holding `lock`

    def held(self) -> bool:
        return self.owner == threading.get_ident()

    def acquire(self, timeout: float = -1) -> bool:
        if not self.lock.acquire(timeout=timeout):
            return False
        self.owner = threading.get_ident()
        return True

    def release(self) -> None:
        self.owner = None
        self.lock.release()

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the connection for this thread (re-entrant for the holder)."""
        if self.held():
            yield
            return
        self.acquire()
        try:
            yield
        finally:
            self.release()


def file_ident(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)  # a stat, not an open: no descriptor, no lock lost
    except OSError:
        return None
    return st.st_dev, st.st_ino


def key_of(path: str | os.PathLike[str]) -> tuple[int, str]:
    return os.getpid(), os.path.realpath(os.fspath(path))


def acquire(path: str | os.PathLike[str],
            opener: Callable[[], SharedConnection]) -> SharedConnection:
    """The process's connection to `path`, opened with `opener()` when there is none yet.

    The registry lock is held while opening, so two threads never open the same file twice.
    """
    key = key_of(path)
    _drain()
    with _REGISTRY_LOCK:
        shared = _REGISTRY.get(key)
        if shared is not None and shared.ident == file_ident(key[1]):
            shared.refs += 1
            return shared
        if shared is not None:  # the file was replaced: leave the old connection to its users
            del _REGISTRY[key]
        shared = opener()
        _REGISTRY[key] = shared
        return shared


def release(path_key: tuple[int, str], shared: SharedConnection) -> None:
    """Drop one reference; the last one closes the connection (in its own process only)."""
    _drain()
    _release(path_key, shared)


def release_later(path_key: tuple[int, str], shared: SharedConnection) -> None:
    """For the garbage collector: take no lock here (see the module docstring)."""
    _PENDING.append((path_key, shared))


def _drain() -> None:
    while True:
        try:
            path_key, shared = _PENDING.popleft()
        except IndexError:
            return
        _release(path_key, shared)


def _release(path_key: tuple[int, str], shared: SharedConnection) -> None:
    if shared.pid != os.getpid():
        return  # inherited through fork: not ours to close
    with _REGISTRY_LOCK:
        shared.refs -= 1
        if shared.refs > 0:
            return
        if _REGISTRY.get(path_key) is shared:
            del _REGISTRY[path_key]
    with shared.locked():
        shared.conn.close()


def open_count(path: str | os.PathLike[str]) -> int:
    """Handles this process holds on its connection to `path` (0: none open)."""
    with _REGISTRY_LOCK:
        shared = _REGISTRY.get(key_of(path))
        return shared.refs if shared is not None else 0
