"""What the console adds to a process row: CPU and RAM from psutil, and its last log line."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class ProcStats:
    cpu_pct: float | None
    rss_mb: float | None


_cache: dict[tuple[int, float | None], psutil.Process] = {}


def psutil_stats(pid: int | None, create_time: float | None) -> ProcStats:
    """CPU% since the previous call and resident memory, if the pid is still that process."""
    if not pid:
        return ProcStats(None, None)
    key = (pid, create_time)
    try:
        proc = _cache.get(key)
        if proc is None:
            proc = psutil.Process(pid)
            if create_time is not None and abs(proc.create_time() - create_time) > 1.0:
                return ProcStats(None, None)  # the pid was reused by another process
            proc.cpu_percent(None)  # prime: the first reading is always 0
            _cache[key] = proc
        with proc.oneshot():
            return ProcStats(proc.cpu_percent(None), proc.memory_info().rss / 1e6)
    except (psutil.Error, OSError):
        _cache.pop(key, None)
        return ProcStats(None, None)


def tail_lines(path: str | os.PathLike[str] | None, n: int = 200,
               max_bytes: int = 64_000) -> list[str]:
    """The last n lines of a file, reading at most max_bytes from its end."""
    if not path:
        return []
    p = Path(path)
    try:
        with p.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return []
    lines = data.decode("utf-8", "replace").splitlines()
    if size > max_bytes and lines:
        lines = lines[1:]  # the first line is probably cut
    return lines[-n:]


def last_line(path: str | os.PathLike[str] | None) -> str:
    lines = [ln for ln in tail_lines(path, n=20, max_bytes=4096) if ln.strip()]
    return lines[-1] if lines else ""
