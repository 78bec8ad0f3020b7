"""A sim trader whose exchange file sits on a full disk retries every poll without flooding its
log: the first of each distinct error, then the 10th, 100th... with the count (OnceFilter).
A real `cappuccino trade` process, the sim exchange file on a small tmpfs filled to the last
byte, then space back: it trades on. Needs root (mount); skips, saying why, elsewhere."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

import pytest

from engine.soak.workdir import make_workdir, trader, wait_for
from tests.fakes.disk import fill, mount_tmpfs
from tests.fakes.trade_proc import store_rows

FULL = "database or disk is full"


def _decisions(db: Path) -> int:
    return len(store_rows(db, "SELECT 1 FROM decisions"))


@pytest.mark.slow
def test_a_full_sim_exchange_file_is_logged_once_then_at_powers_of_ten(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    mount_tmpfs(disk, "8m")
    p = None
    try:
        # the store on the ordinary disk; only the sim exchange file ([paths] run) fills up
        cfg = make_workdir(tmp_path, '[paths]\nrun = "disk/run"\n')
        db, log = Path(cfg.store.path), tmp_path / "trader.log"
        p = trader(tmp_path / "cappuccino.toml", "t", log)
        assert wait_for(lambda: _decisions(db) > 3 or p.poll() is not None, 90), \
            log.read_text()[-3000:]
        fill(disk / "filler")
        # poll_s = 0.05: the old loop logged some 20 lines a second from here
        assert wait_for(lambda: "[10 times so far]" in log.read_text(), 60), \
            log.read_text()[-3000:]
        wait_for(lambda: "[100 times so far]" in log.read_text(), 20)
        full = [ln for ln in log.read_text().splitlines() if FULL in ln]
        counts = [int(m.group(1)) if (m := re.search(r"\[(\d+) times so far\]$", ln)) else 1
                  for ln in full]
        assert full and all(n in (1, 10, 100, 1000) for n in counts), full
        assert counts.count(1) <= 6, full  # the first of each distinct message, few of them
        assert max(counts) >= 10  # it did retry: at least ten times one error
        (disk / "filler").unlink()
        before = _decisions(db)
        assert wait_for(lambda: _decisions(db) > before + 3, 90), log.read_text()[-3000:]
        assert p.poll() is None
    finally:
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            p.wait(60)
        subprocess.run(["umount", "-l", str(disk)], check=False)
    assert p.returncode == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()
