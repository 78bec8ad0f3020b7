"""One supervisor per store: the flock and its probe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.supervisor.lock import AlreadyRunning, acquire, holder, lock_path


def test_lock_is_exclusive_and_names_the_holder(tmp_path: Path) -> None:
    path = lock_path(tmp_path / "s.db")
    assert path.name == "s.db.supervisor.lock"
    assert holder(path) is None
    fd = acquire(path)
    try:
        assert holder(path) == os.getpid()
        with pytest.raises(AlreadyRunning, match=rf"supervisor already running \(pid {os.getpid()}\)"):
            acquire(path)
    finally:
        os.close(fd)
    assert holder(path) is None
    os.close(acquire(path))  # free again


def test_lock_is_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    path = lock_path(tmp_path / "s.db")
    code = ("import sys, time\nfrom pathlib import Path\n"
            "from engine.supervisor.lock import acquire\n"
            "acquire(Path(sys.argv[1])); print('locked', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        assert holder(path) == proc.pid
        proc.kill()
        proc.wait(timeout=5)
        assert holder(path) is None
        os.close(acquire(path))
    finally:
        proc.kill()
        proc.wait()
