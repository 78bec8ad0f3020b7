"""Log rotation by copytruncate, and reading logs for `cappuccino logs`.

Children write with O_APPEND, so after the supervisor truncates a file every next write
lands at the new end: rotation needs no cooperation from the child and survives a
supervisor SIGKILL (the child keeps its fd; nothing is reopened). The price is that a few
lines written between copy and truncate can be lost (logrotate's copytruncate caveat).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path


def backup(path: Path, n: int) -> Path:
    return path.with_name(f"{path.name}.{n}")


def rotate_if_needed(path: Path, max_bytes: int, backups: int) -> bool:
    """Copy path to .1 (shifting .N up, dropping the oldest) and truncate it; True if done."""
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except FileNotFoundError:
        return False
    for n in range(backups - 1, 0, -1):
        src = backup(path, n)
        if src.exists():
            os.replace(src, backup(path, n + 1))
    tmp = path.with_name(f"{path.name}.1.tmp")
    shutil.copyfile(path, tmp)
    os.replace(tmp, backup(path, 1))
    with open(path, "r+b") as f:
        f.truncate(0)
    return True


def tail_lines(path: Path, n: int, pattern: re.Pattern[str] | None = None) -> list[str]:
    """The last n lines (matching pattern when given), reading the file backwards in chunks."""
    if n <= 0:
        return []
    chunk = 64 * 1024
    found: list[str] = []  # newest first
    with open(path, "rb") as f:
        pos = f.seek(0, os.SEEK_END)
        head = b""  # the partial line at the front of what has been read
        first = True
        while pos > 0 and len(found) < n:
            step = min(chunk, pos)
            pos -= step
            f.seek(pos)
            data = f.read(step) + head
            if first and data.endswith(b"\n"):
                data = data[:-1]  # the file's final newline ends a line, it starts none
            first = False
            parts = data.split(b"\n")
            head = parts[0] if pos > 0 else b""
            for raw in reversed(parts[1:] if pos > 0 else parts):
                line = raw.decode("utf-8", "replace")
                if pattern is None or pattern.search(line):
                    found.append(line)
                    if len(found) == n:
                        break
    return found[::-1]


def follow(path: Path, poll_s: float = 0.25) -> Iterator[str]:
    """Yield lines appended after now; restarts from 0 when the file is truncated (rotated)."""
    pos = path.stat().st_size if path.exists() else 0
    buf = b""
    while True:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size < pos:  # copytruncate happened
            pos, buf = 0, b""
        if size > pos:
            with open(path, "rb") as f:
                f.seek(pos)
                data = f.read(size - pos)
            pos += len(data)
            buf += data
            *complete, buf = buf.split(b"\n")
            for raw in complete:
                yield raw.decode("utf-8", "replace")
        else:
            time.sleep(poll_s)
