"""What the soak samples while it runs: the store's WAL files and this process's locks."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def posix_locks(path: str | Path, pid: int) -> int | None:
    """The process's fcntl lock entries on the file (/proc/locks); None without /proc."""
    try:
        st = os.stat(path)
        text = Path("/proc/locks").read_text()
    except OSError:
        return None
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    return sum(1 for line in text.splitlines()
               if (f := line.split()) and len(f) >= 6 and f[1] == "POSIX"
               and f[4] == str(pid) and f[5] == dev)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@dataclass
class WalProbe:
    """Samples, every `every_s`, that -wal and -shm exist, and that every process `pids()`
    names which was once seen holding SQLite locks on the store still holds them while it
    lives (for `grace_s` in a row: a process between closing its store and exiting, while
    the interpreter tears down, has none for a moment). The probing process itself holds no connection: its own locks would keep the
    WAL in place and hide the failure."""

    path: Path
    pids: Callable[[], list[int]] = list
    every_s: float = 0.05
    grace_s: float = 3.0
    samples: int = 0
    missing: list[str] = field(default_factory=list)
    _locked: set[int] = field(default_factory=set)
    _suspect: dict[int, float] = field(default_factory=dict)  # pid -> since when
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="wal-probe")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        pids: list[int] = []
        while not self._stop.wait(self.every_s):
            if self.samples % 20 == 0:
                pids = self.pids()
            self.samples += 1
            gone = [s for s in ("-wal", "-shm") if not Path(f"{self.path}{s}").exists()]
            now, suspect = time.monotonic(), {}
            for pid in pids:
                locks = posix_locks(self.path, pid)
                if locks:
                    self._locked.add(pid)
                elif locks == 0 and pid in self._locked and _alive(pid):
                    suspect[pid] = self._suspect.get(pid, now)
            self._suspect = suspect
            gone += [f"the SQLite locks of pid {pid} (alive, connected, none for "
                     f"{now - t:.1f}s)" for pid, t in sorted(suspect.items())
                     if now - t >= self.grace_s]
            if gone and len(self.missing) < 20:
                self.missing.append(f"sample {self.samples}: {', '.join(gone)} missing")
