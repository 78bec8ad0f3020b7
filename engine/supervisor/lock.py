"""One supervisor per store: an fcntl.flock on `<store path>.supervisor.lock`.

The kernel drops the lock when the holder dies (even on SIGKILL), so a stale file never
blocks a new supervisor. The holder writes its pid into the file for messages and probes.
Python opens files non-inheritable, so children never hold the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from engine.files import open_private, private_dir

PROBE_RETRIES = 10


class AlreadyRunning(Exception):
    """Another process holds the lock."""

    def __init__(self, pid: int | None) -> None:
        super().__init__(f"supervisor already running (pid {pid if pid else '?'})")
        self.pid = pid


def lock_path(store_path: str | Path) -> Path:
    return Path(f"{store_path}.supervisor.lock")


def _read_pid(fd: int) -> int | None:
    try:
        raw = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(raw) if raw else None
    except (OSError, ValueError):
        return None


def acquire(path: Path) -> int:
    """Take the lock and write our pid; returns the fd to keep open. Raises AlreadyRunning."""
    private_dir(path.parent)
    fd = open_private(path, os.O_RDWR)
    # A few tries: `holder()` probes take a shared lock for microseconds.
    for attempt in range(PROBE_RETRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if attempt == PROBE_RETRIES - 1:
                pid = _read_pid(fd)
                os.close(fd)
                raise AlreadyRunning(pid) from None
            time.sleep(0.05)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def holder(path: Path) -> int | None:
    """Pid of the live lock holder, or None when nobody holds it (0 if the pid is unknown)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # absent, or its folder is unusable: nobody can hold it
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or 0
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
