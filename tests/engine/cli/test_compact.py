"""`cappuccino compact` from the shell: real CLI processes, a real supervisor, real files, a
small tmpfs for a disk too small, and SIGKILLs while it runs."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from engine.runtime import ENV_PROCESS_NAME
from engine.supervisor.lock import holder, lock_path
from store.compact import Pages
from store.db import Store
from store.fixtures import add_freed_decisions
from store.processes import update_process, upsert_process
from tests.fakes.disk import fill, mount_tmpfs
from tests.store.test_compact import _holder, dump, pragma, thinned_store

ROOT = Path(__file__).resolve().parents[3]
SUPERVISOR = ("[supervisor]\npoll_s = 0.05\nheartbeat_s = 0.2\nstop_grace_s = 1\n"
              "stale_heartbeats = 25\nservices = []\n")


def config(folder: Path, store: Path, extra: str = "") -> Path:
    path = folder / "cappuccino.toml"
    path.write_text(f'[store]\npath = "{store}"\n[paths]\nlogs = "{folder / "logs"}"\n'
                    f'run = "{folder / "run"}"\n' + extra)
    return path


def cli(cfg: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(cfg),
                           *argv], capture_output=True, text=True, timeout=120, cwd=ROOT)


def needed(path: Path) -> int:
    return Pages(pragma(path, "page_size"), pragma(path, "page_count"),
                 pragma(path, "freelist_count")).needed_bytes()


def test_compact_shrinks_a_thinned_store_and_says_by_how_much(tmp_path: Path) -> None:
    store = thinned_store(tmp_path / "s.db")
    cfg = config(tmp_path, store)
    before, size = dump(store), store.stat().st_size

    r = cli(cfg, "compact")

    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    first, last = r.stdout.splitlines()
    assert first.startswith(f"compacting {store}: ")
    m = re.fullmatch(rf"compacted {re.escape(str(store))}: ([\d,]+) -> ([\d,]+) bytes "
                     r"\(([\d.]+) MB returned\) in [\d.]+ s; integrity_check ok before and "
                     r"after \([\d.]+ s\)", last)
    assert m, last
    after = store.stat().st_size
    assert (int(m[1].replace(",", "")), int(m[2].replace(",", ""))) == (size, after)
    assert after < size * 0.7
    assert dump(store) == before
    r = cli(cfg, "compact")  # again: nothing left to give back
    assert (r.returncode, r.stdout.strip()) == (0, f"{store}: no free pages, nothing to give "
                                                   f"back ({after:,} bytes)")


def test_refused_while_a_real_supervisor_runs_then_done_once_it_stopped(
        tmp_path: Path) -> None:
    store = thinned_store(tmp_path / "s.db", days=35)
    cfg = config(tmp_path, store, SUPERVISOR)
    size = store.stat().st_size
    sup = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--config", str(cfg),
                            "supervise"], cwd=ROOT, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while holder(lock_path(store)) != sup.pid:
            assert sup.poll() is None and time.monotonic() < deadline, "no supervisor"
            time.sleep(0.1)

        r = cli(cfg, "compact")

        assert r.returncode == 1 and r.stdout == ""
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        assert r.stderr.startswith(f"cappuccino: {store}: the supervisor is running "
                                   f"(pid {sup.pid}); compact works offline only"), r.stderr
        assert "nothing was changed" in r.stderr
        assert "then `cappuccino stop supervisor`" in r.stderr  # it checks the pid's identity
        assert store.stat().st_size >= size and pragma(store, "freelist_count") > 0
    finally:
        os.killpg(sup.pid, signal.SIGTERM)  # its own session: only what this test started
        try:
            sup.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(sup.pid, signal.SIGKILL)
            sup.wait()
    before = dump(store)
    r = cli(cfg, "compact")
    assert r.returncode == 0, r.stderr
    assert dump(store) == before and store.stat().st_size < size


def test_a_second_compact_waits_for_the_first(tmp_path: Path) -> None:
    store = big_store(tmp_path / "s.db", 30)
    cfg = config(tmp_path, store)
    before = dump(store)
    first = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--config", str(cfg),
                              "compact"], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        assert first.stdout is not None
        assert first.stdout.readline().startswith("compacting ")
        first.send_signal(signal.SIGSTOP)  # held mid-way, the supervisor's lock with it

        r = cli(cfg, "compact")

        assert (r.returncode, r.stdout) == (1, ""), r.stderr
        assert r.stderr == (f"cappuccino: {store}: another compact is running (pid "
                            f"{first.pid}); wait for it; nothing was changed\n")
    finally:
        first.send_signal(signal.SIGCONT)
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0 and out.startswith("compacted "), err
    assert dump(store) == before


def test_refused_while_any_process_has_the_store_open_naming_it(tmp_path: Path) -> None:
    store = thinned_store(tmp_path / "s.db", days=35)
    cfg = config(tmp_path, store)
    before = dump(store)
    other = _holder(store)
    try:
        r = cli(cfg, "compact")
    finally:
        other.kill()
        other.wait()
    assert r.returncode == 1 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(f"cappuccino: {store}: in use by pid {other.pid} ("), r.stderr
    assert "offline only" in r.stderr and "nothing was changed" in r.stderr
    assert "`cappuccino stop supervisor`" in r.stderr  # the command, not a pid to hunt for
    assert dump(store) == before and pragma(store, "freelist_count") > 0
    assert holder(lock_path(store)) is None  # the supervisor's lock was given back


def test_refused_while_a_supervised_process_outlives_its_supervisor(tmp_path: Path) -> None:
    """A trader between two uses of the store holds no lock: the processes table and the
    supervisor's own identity check (pid, start time, environment) find it."""
    store = thinned_store(tmp_path / "s.db", days=35)
    cfg = config(tmp_path, store)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                             env={**os.environ, ENV_PROCESS_NAME: "trader-x"})
    try:
        with Store(store) as s:
            upsert_process(s, "trader-x", "trader", ["trade", "--name", "x"])
            update_process(s, "trader-x", state="RUNNING", pid=child.pid,
                           create_time=psutil.Process(child.pid).create_time())
            upsert_process(s, "trader-gone", "trader", ["trade", "--name", "gone"])
            update_process(s, "trader-gone", state="RUNNING", pid=child.pid,
                           create_time=1.0)  # its pid taken by another process since
        before = dump(store)

        r = cli(cfg, "compact")

        assert r.returncode == 1 and r.stdout == "", r.stderr
        assert r.stderr.startswith(f"cappuccino: {store}: supervised processes still run "
                                   f"without the supervisor: trader-x (pid {child.pid}); "
                                   "compact works offline only"), r.stderr
        assert r.stderr.count("\n") == 1 and dump(store) == before
        assert "`cappuccino stop supervisor`" in r.stderr
    finally:
        child.kill()
        child.wait()
    r = cli(cfg, "compact")  # the rows stay, their processes are gone
    assert r.returncode == 0, r.stderr
    assert dump(store) == before


@pytest.mark.parametrize(("names", "found"), [
    (("decisions",), "integrity_check before compacting: *** in database main *** "),
    (("processes", "sqlite_autoindex_processes_1"),
     "cannot read the processes table (database disk image is malformed); the store was left "
     "as it is (`cappuccino doctor` checks it)")])
def test_a_store_with_a_broken_page_is_refused_in_one_line_and_left_as_it_was(
        tmp_path: Path, names: tuple[str, ...], found: str) -> None:
    store = thinned_store(tmp_path / "s.db", days=35)
    page = pragma(store, "page_size")
    conn = sqlite3.connect(store)
    roots = [conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                          (n,)).fetchone()[0] for n in names]
    conn.close()
    with store.open("r+b") as f:  # nobody has it open: the test breaks the b-trees' roots
        for root in roots:
            f.seek((root - 1) * page)
            f.write(b"\xde\xad\xbe\xef" * (page // 4))
    broken = store.read_bytes()

    r = cli(config(tmp_path, store), "compact")

    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"cappuccino: {store}: {found}"), r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.endswith(
        "nothing was changed (restore a backup)\n" if "integrity" in found else "it)\n")
    assert store.read_bytes() == broken


def test_refused_with_the_figures_when_the_disk_is_too_small(tmp_path: Path) -> None:
    built = thinned_store(tmp_path / "built.db")
    need, size = needed(built), built.stat().st_size
    before = dump(built)
    small = tmp_path / "small"
    mount_tmpfs(small, f"{(size + need // 2) // 1024}k")  # room for half of what it needs
    try:
        store = small / "s.db"
        shutil.copyfile(built, store)  # nobody has it open: a plain copy is whole
        cfg = config(tmp_path, store)

        r = cli(cfg, "compact")

        assert r.returncode == 1 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
        m = re.fullmatch(rf"cappuccino: {re.escape(str(store))}: ([\d.]+) MB free in "
                         rf"{re.escape(str(small))}, compacting needs up to ([\d.]+) MB \(a "
                         r"temporary copy of the ([\d.]+) MB in use and a WAL of it\); free "
                         r"some space first; nothing was changed\n", r.stderr)
        assert m, r.stderr
        assert float(m[1]) < float(m[2]) == round(need / 1e6, 1)
        assert dump(store) == before and store.stat().st_size == size
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)
    # The estimate is enough: on a tmpfs holding the store and exactly that much, it compacts.
    enough = tmp_path / "enough"
    mount_tmpfs(enough, f"{(size + need) // 1024 + 64}k")
    try:
        store = enough / "s.db"
        shutil.copyfile(built, store)
        r = cli(config(tmp_path, store), "compact")
        assert r.returncode == 0, r.stderr
        assert dump(store) == before and store.stat().st_size < size * 0.7
    finally:
        subprocess.run(["umount", "-l", str(enough)], check=False)


def big_store(path: Path, mb: int) -> Path:
    """About `mb` MB of decisions rows through the real schema, two thirds then deleted."""
    with Store(path) as s, s.write():
        add_freed_decisions(s.conn, mb * 5400)
    return path


def test_a_disk_filled_while_it_runs_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    built = big_store(tmp_path / "built.db", 60)
    need, size = needed(built), built.stat().st_size
    before = dump(built)
    disk = tmp_path / "disk"
    mount_tmpfs(disk, f"{(size + need) // 1024 + 8192}k")  # passes the check up front
    try:
        store = disk / "s.db"
        for _attempt in range(5):
            shutil.copyfile(built, store)
            proc = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--config",
                                     str(config(tmp_path, store)), "compact"], cwd=ROOT,
                                    text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            assert proc.stdout is not None
            assert proc.stdout.readline().startswith("compacting ")
            fill(disk / "filler")  # something else takes the rest of the disk meanwhile
            out, err = proc.communicate(timeout=120)
            if proc.returncode != 0:
                break
            (disk / "filler").unlink()  # it finished first: again
            store.unlink()
        else:
            pytest.fail("compact always finished before the disk was full")
        assert proc.returncode == 1 and out == "" and err.count("\n") == 1, err
        assert err.startswith(f"cappuccino: {store}: VACUUM failed (") and \
            "full" in err and err.endswith("the store was left as it was\n"), err
        (disk / "filler").unlink()
        assert store.stat().st_size == size and dump(store) == before
        with Store(store) as s:
            assert s.integrity() == "ok"
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def temp_files(pid: int) -> list[str]:
    """SQLite's temporary files (unlinked when made: `etilqs_*`) a process has open."""
    found = []
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if "/etilqs_" in link:
                    found.append(link.removesuffix(" (deleted)"))
    return found


@pytest.mark.slow
def test_a_sigkill_at_any_point_leaves_the_store_whole(tmp_path: Path) -> None:
    store = big_store(tmp_path / "s.db", 120)
    pristine = tmp_path / "pristine.db"
    shutil.copyfile(store, pristine)  # nobody has it open: a plain copy is whole
    cfg = config(tmp_path, store)
    before, size = dump(store), store.stat().st_size
    used = size - pragma(store, "freelist_count") * pragma(store, "page_size")
    wal = Path(f"{store}-wal")

    def wal_at(share: float) -> Callable[[int], bool]:
        def reached(_pid: int) -> bool:
            with contextlib.suppress(OSError):
                return wal.stat().st_size >= share * used
            return False
        return reached

    # When to kill: while it builds the temporary copy (no WAL yet), while it copies that
    # into the WAL (a quarter, half), and in the checkpoint (the store file written to):
    # only that last one comes after the commit, so that one ends compacted.
    points: list[tuple[str, Callable[[int], bool]]] = [
        ("building the copy", lambda pid: temp_files(pid) != []),
        ("WAL a quarter", wal_at(1 / 4)),  # of the pages in use; it ends near 0.85 of them
        ("WAL half", wal_at(1 / 2)),
        ("checkpoint", lambda _pid: store.stat().st_mtime_ns != mtime)]
    for name, reached in points:
        for _attempt in range(5):  # a fast machine may finish before the point: again
            mtime = store.stat().st_mtime_ns
            proc = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--config",
                                     str(cfg), "compact"], cwd=ROOT, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            assert proc.stdout is not None
            assert proc.stdout.readline().startswith("compacting "), name  # past the checks
            deadline = time.monotonic() + 60
            while not reached(proc.pid) and proc.poll() is None:
                assert time.monotonic() < deadline, name
                time.sleep(0.0005)
            if proc.poll() is None:
                break
            assert proc.wait() == 0  # done before the point: start again from the original
            for p in (store, wal, Path(f"{store}-shm")):
                p.unlink(missing_ok=True)
            shutil.copyfile(pristine, store)
        else:
            pytest.fail(f"compact always finished before the kill {name}: a larger store")
        if name == "building the copy":  # SQLite's temporary database, in the store's folder
            assert all(Path(f).parent == tmp_path for f in temp_files(proc.pid))
        proc.kill()
        proc.wait()
        # whole and openable as the store's own rules open it, every row as before
        with Store(store) as s:
            assert s.integrity() == "ok", name
        assert dump(store) == before, name
        if name != "checkpoint":
            assert store.stat().st_size == size, name  # nothing given back: not committed
    assert store.stat().st_size < size * 0.5  # the checkpoint's commit survived the kill
    r = cli(cfg, "compact")
    assert r.returncode == 0, r.stderr
    assert dump(store) == before
