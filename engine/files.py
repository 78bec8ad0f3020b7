"""Atomic file writes, and files of the operator alone.

A crash or a full disk never leaves a half-written file under the final name (temp file in
the same folder, fsync, rename). Everything Cappuccino creates is 0600 (files) or 0700
(folders) whatever the umask: see private_umask, private_dir and open_private.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: str | Path, data: bytes) -> None:
    """Mode 0600 (mkstemp's), in a folder created 0700."""
    path = Path(path)
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- files of the operator alone -------------------------------------------------------------
# Logs, models, the run folder, exports, key files and the store say what the operator holds
# and trades: nobody else on the box may read them. Modes are set explicitly, so an
# inherited umask of 022 (the usual default) changes nothing.
PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def private_umask() -> int:
    """Make everything this process creates from now on 0600/0700; returns the old umask.

    Called first thing by every entry point, so files created by libraries (SQLite's -wal
    and -shm, torch.save, Parquet writers, log handlers) are private too."""
    return os.umask(PRIVATE_UMASK)


def private_dir(path: str | Path) -> Path:
    """mkdir -p with mode 0700 for every folder it creates. An existing folder is left as
    it is (it may be the operator's own, even /tmp): `cappuccino doctor` reports loose ones."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(d, DIR_MODE)  # mkdir's mode is masked by the umask
    return path


def open_private(path: str | Path, flags: int) -> int:
    """os.open with O_CREAT and mode 0600 whatever the umask (an existing file is tightened)."""
    fd = os.open(path, flags | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def loose(path: str | Path) -> int | None:
    """The group/other permission bits of path (0 when private), None when absent."""
    try:
        return os.stat(path).st_mode & 0o077
    except OSError:
        return None


def tighten(path: str | Path) -> None:
    """Drop group and other permissions (0700 for folders, owner bits kept for files)."""
    mode = os.stat(path).st_mode & 0o777
    os.chmod(path, DIR_MODE if Path(path).is_dir() else mode & 0o700)
