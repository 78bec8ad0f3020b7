"""Disk full, then space back (issue 10): a real supervisor, sim trader and sampler with the
store and the sim exchange file on a small tmpfs. While the disk is full the sampler is
SIGKILLed: the supervisor cannot record that, keeps the fact, says so in one line, and once
space is back records it and restarts the sampler; the trader trades on. No traceback."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from engine.config import Config
from engine.soak.mixed import declare_trader
from engine.soak.workdir import cli, make_workdir, stop, wait_for
from engine.supervisor.spawn import same_process
from store.db import Store
from store.processes import get_process
from tests.fakes.disk import fill, mount_tmpfs

EXTRA = """
[store]
path = "disk/cappuccino.db"
[paths]
run = "disk/run"
[supervisor]
poll_s = 0.2
heartbeat_s = 0.5
stop_grace_s = 3
backoff_initial_s = 0.5
services = ["sampler"]
[sampler]
interval_s = 0.3
flush_s = 0.3
"""


def decisions(store: Store) -> int:
    row = store.one("SELECT COUNT(*) FROM decisions WHERE trader = 't'")
    return int(row[0]) if row is not None else 0


def running(store: Store, name: str, not_pid: int | None = None) -> int | None:
    row = get_process(store, name)
    if (row is None or row.state != "RUNNING" or not row.pid or row.pid == not_pid
            or not same_process(row.pid, row.create_time)):
        return None
    return row.pid


@contextlib.contextmanager
def on_tmpfs(tmp_path: Path, extra: str, names: tuple[str, ...]
             ) -> Iterator[tuple[Config, Store, subprocess.Popen[bytes], Path]]:
    """An installation whose store and sim exchange file lie on a 16 MB tmpfs (`disk`), its
    supervisor started as ensure_supervisor starts it, and its store open. On the way out the
    named processes are SIGKILLed, the supervisor stopped and the tmpfs unmounted."""
    disk = tmp_path / "disk"
    mount_tmpfs(disk, "16m")
    sup: subprocess.Popen[bytes] | None = None
    store: Store | None = None
    try:
        cfg = make_workdir(tmp_path, extra)
        sup_log = Path(cfg.paths.logs) / "supervisor.log"
        sup_log.parent.mkdir(parents=True, exist_ok=True)
        sup = cli(tmp_path / "cappuccino.toml", "supervise", log=sup_log)
        assert wait_for(lambda: Path(cfg.store.path).exists()
                        and Path(cfg.store.path).stat().st_size >= 100, 60)
        store = Store(cfg.store.path)
        yield cfg, store, sup, disk
    finally:
        if store is not None:
            for name in names:
                row = get_process(store, name)
                if row and row.pid and row.pid > 1:  # a pid, never a bool (killpg)
                    with contextlib.suppress(OSError):
                        os.killpg(row.pid, signal.SIGKILL)
            store.close()
        if sup is not None:
            stop(sup)
        subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.mark.slow
def test_disk_full_then_space_back(tmp_path: Path) -> None:
    with on_tmpfs(tmp_path, EXTRA, ("trader-t", "sampler")) as (cfg, store, sup, disk):
        sup_log = Path(cfg.paths.logs) / "supervisor.log"
        declare_trader(store, cfg, tmp_path / "model", "t")  # promoted, as the soak's
        assert wait_for(lambda: bool(running(store, "sampler") and running(store, "trader-t")
                                     and decisions(store) > 5), 120), _logs(tmp_path)
        killed = running(store, "sampler")
        assert killed
        # An empty WAL, then a full disk: the next write needs a new block and cannot have it.
        store.one("PRAGMA wal_checkpoint(TRUNCATE)")
        fill(disk / "filler")
        os.killpg(killed, signal.SIGKILL)
        # The supervisor meets the full disk recording an exit: the sampler's, or the
        # trader's when the trader hit the full store first. A reset WAL may still have had
        # room for that record (SQLite reuses its pages): kill the sampler again until a
        # record cannot be written.
        for _ in range(6):
            if wait_for(lambda: "ERROR cannot record that " in sup_log.read_text(), 10):
                break
            for child in psutil.Process(sup.pid).children():
                if "sample" in child.cmdline():
                    with contextlib.suppress(OSError):
                        os.killpg(child.pid, signal.SIGKILL)
        assert "ERROR cannot record that " in sup_log.read_text(), _logs(tmp_path)
        time.sleep(2)  # several more ticks on the full disk: still one line
        # Keep the disk full until the trader has met it too, however slow a loaded machine
        # makes its bars: on its sim exchange file (a broker error it retries) or on the
        # store (one line, exit; the supervisor starts it again once space is back).
        trader_log = Path(cfg.paths.logs) / "trader-t.log"
        assert wait_for(lambda: "disk is full" in trader_log.read_text()
                        or "disk full" in trader_log.read_text(), 60), _logs(tmp_path)
        (disk / "filler").unlink()
        before = decisions(store)
        assert wait_for(lambda: running(store, "sampler", not_pid=killed) is not None
                        and running(store, "trader-t") is not None
                        and decisions(store) > before + 3, 120), _logs(tmp_path)
        row = get_process(store, "sampler")
        assert row is not None and row.restarts >= 1
        text = sup_log.read_text()
        lost = [ln.split(" ERROR ", 1)[1].split(" (")[0] for ln in text.splitlines()
                if " ERROR cannot record that " in ln]
        assert lost and all(lost.count(x) <= 2 for x in lost), text[-3000:]  # once a minute
        assert "done now (the store takes writes again)" in text
        # The trader met the full disk in its sim exchange file: a broker error, retried.
        assert running(store, "trader-t") is not None  # it survived the full disk
        for log in Path(cfg.paths.logs).glob("*.log"):
            assert "Traceback" not in log.read_text(), f"{log.name}:\n{log.read_text()[-3000:]}"
        assert store.integrity() == "ok"


@pytest.mark.slow
def test_restart_spawned_on_a_full_disk_is_recorded_with_its_count(tmp_path: Path) -> None:
    """The flake of the test above under load, made certain: the sampler's exit is recorded,
    then the disk fills before its restart is due. The restart is spawned, its record
    refused; once space is back the row says the new pid AND that it was restarted (it said
    restarts 0), and the log says when it started."""
    extra = EXTRA.replace("backoff_initial_s = 0.5", "backoff_initial_s = 5")
    with on_tmpfs(tmp_path, extra, ("sampler",)) as (cfg, store, sup, disk):
        sup_log = Path(cfg.paths.logs) / "supervisor.log"
        assert wait_for(lambda: running(store, "sampler") is not None, 60), _logs(tmp_path)
        first = running(store, "sampler")
        assert first is not None and first > 1  # a pid, never a bool (killpg below)
        os.killpg(first, signal.SIGKILL)
        assert wait_for(lambda: getattr(get_process(store, "sampler"), "state", "")
                        == "BACKOFF", 30), _logs(tmp_path)
        store.one("PRAGMA wal_checkpoint(TRUNCATE)")
        fill(disk / "filler")
        row = get_process(store, "sampler")
        assert row is not None and row.state == "BACKOFF" and row.restarts == 0
        pids = [0]

        def respawned() -> bool:
            pids[0] = next((c.pid for c in psutil.Process(sup.pid).children()
                            if "sample" in c.cmdline() and c.pid != first), 0)
            return bool(pids[0])

        assert wait_for(respawned, 30), _logs(tmp_path)
        time.sleep(1)  # a few ticks on the full disk
        row = get_process(store, "sampler")
        assert row is not None and row.pid is None  # its start could not be recorded
        assert f"started sampler (pid {pids[0]})" in sup_log.read_text()
        (disk / "filler").unlink()
        assert wait_for(lambda: running(store, "sampler") == pids[0], 60), _logs(tmp_path)
        row = get_process(store, "sampler")
        assert row is not None and row.restarts == 1, row
        assert store.integrity() == "ok"


def _logs(root: Path) -> str:
    out = []
    for log in sorted((root / "var" / "logs").glob("*.log")):
        out.append(f"--- {log.name}\n{log.read_text(errors='replace')[-1500:]}")
    return "\n".join(out)
