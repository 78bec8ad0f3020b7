"""A disk that runs out: a small tmpfs (needs root or CAP_SYS_ADMIN; skips elsewhere),
filled to its last byte."""

from __future__ import annotations

import errno
import subprocess
from pathlib import Path

import pytest


def mount_tmpfs(path: Path, size: str) -> None:
    """Make `path` a tmpfs of `size` (e.g. "8m"); the test skips, saying why, if it cannot.
    The caller unmounts it (`umount -l`) in a finally."""
    path.mkdir()
    run = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                          str(path)], capture_output=True, text=True)
    if run.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({run.stderr.strip() or run.returncode}); "
                    "this test needs root or CAP_SYS_ADMIN")


def fill(path: Path) -> None:
    """Take every free byte of the file system that holds `path`."""
    with path.open("wb", buffering=0) as f:
        for size in (1 << 20, 65536, 4096, 512):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as e:
                assert e.errno == errno.ENOSPC
