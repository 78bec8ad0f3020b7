"""`cappuccino compact`: give the store's free pages back to the disk, offline.

Thinning frees pages that the next days' rows reuse; after the first sweep of a long backlog
most of the file can be free. This runs SQLite's VACUUM in place (store.compact says why not
a copy renamed over the store) once nothing else has the store open: the supervisor's lock
is taken for the whole job (no supervisor can start meanwhile), SQLite's exclusive lock
proves no other process holds the store, and no process the supervisor recorded is still
alive (one between two uses of the store holds no lock).

Exit 0 when compacted (or nothing was free), 1 when it was refused or failed (a process
holds the store, too little disk, a failed integrity check: the store is then as it was),
2 for bad usage. A refusal is 1, not 2: the command was right, the moment was not, and a
script may run it again once everything is stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
from pathlib import Path

from engine.cli import Subparsers
from engine.cli.errors import JobError
from engine.config import Config

SHOWN_HOLDERS = 5


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "compact", help="offline: give the store's free pages back to the disk (VACUUM), "
                        "with integrity checks before and after",
        description="Offline only: refused while the supervisor or any process has the "
                    "store open, or when the disk lacks the room VACUUM needs (up to twice "
                    "the pages in use). Exit 0 done, 1 refused or failed (store unchanged), "
                    "2 bad usage.")
    p.set_defaults(func=run)


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def on_disk(path: Path) -> int:
    """The store's bytes: the file and its WAL (stat only, never an open)."""
    total = 0
    for p in (path, Path(f"{path}-wal")):
        with contextlib.suppress(OSError):
            total += p.stat().st_size
    return total


def run(args: argparse.Namespace, cfg: Config) -> int:
    from engine.supervisor import lock

    path = Path(cfg.store.path)
    if not path.is_file():
        what = "not a file" if path.exists() else "no store there"
        raise JobError(f"{path}: {what}, nothing to compact (check [store] path)")
    if path.stat().st_size == 0:  # as the store's opening rules: never made into a store
        raise JobError(f"{path}: 0-byte file, not a store; nothing to compact, the file was "
                       "left as it is")
    try:
        fd = lock.acquire(lock.lock_path(path))
    except lock.AlreadyRunning as e:
        pid = e.pid or "?"
        if e.pid and _is_compact(e.pid):  # it holds the supervisor's lock meanwhile
            raise JobError(f"{path}: another compact is running (pid {pid}); wait for it; "
                           "nothing was changed") from None
        raise JobError(f"{path}: the supervisor is running (pid {pid}); compact works "
                       "offline only: run `cappuccino stop all`, then `cappuccino stop supervisor`, "
                       "and compact again; nothing was changed") from None
    try:
        return _compact(path)
    finally:
        os.close(fd)  # the kernel drops the supervisor's lock with it


def _is_compact(pid: int) -> bool:
    import psutil

    try:
        argv: list[str] = psutil.Process(pid).cmdline()
        return argv[-1:] == ["compact"]
    except psutil.Error:
        return False


def _compact(path: Path) -> int:
    from store.compact import Busy, Exclusive, NotCompacted, compact

    try:
        db = Exclusive(path)
    except Busy:
        raise JobError(_held_message(path)) from None
    except NotCompacted as e:
        raise JobError(str(e)) from None
    bytes_before = on_disk(path)
    try:
        running = _still_running(db.recorded_processes())
        if running:
            raise JobError(f"{path}: supervised processes still run without the supervisor: "
                           f"{running}; compact works offline only: stop them (`cappuccino "
                           "stop all`, then `cappuccino stop supervisor`) and compact again; nothing "
                           "was changed")
        pages = db.pages()
        if pages.freelist == 0:
            print(f"{path}: no free pages, nothing to give back ({bytes_before:,} bytes)")
            return 0
        folder = path.resolve().parent
        free, need = shutil.disk_usage(folder).free, pages.needed_bytes()
        if free < need:
            raise JobError(f"{path}: {mb(free)} free in {folder}, compacting needs up to "
                           f"{mb(need)} (a temporary copy of the {mb(pages.used_bytes)} in use "
                           "and a WAL of it); free some space first; nothing was changed")
        print(f"compacting {path}: {mb(pages.file_bytes)}, {mb(pages.free_bytes)} of it free "
              f"pages; up to {mb(need)} of the {mb(free)} free on disk used meanwhile",
              flush=True)
        done = compact(db)
    except NotCompacted as e:  # a check failed or VACUUM rolled back: the store as it was
        raise JobError(str(e)) from None
    finally:
        db.close()  # the last connection: SQLite removes the emptied -wal and -shm
    bytes_after = on_disk(path)
    print(f"compacted {path}: {bytes_before:,} -> {bytes_after:,} bytes "
          f"({mb(bytes_before - bytes_after)} returned) in {done.seconds:.2f} s; "
          f"integrity_check ok before and after ({done.check_seconds:.2f} s)")
    return 0


def _still_running(recorded: list[tuple[str, int, float | None]]) -> str:
    """The supervised processes alive between two uses of the store (a process that has it
    open is refused already); identity as the supervisor's: pid, start time, environment."""
    from engine.supervisor.spawn import same_process
    from engine.text import printable

    alive = [f"{printable(name)} (pid {pid})" for name, pid, created in recorded
             if same_process(pid, created, name)]
    more = f" and {len(alive) - SHOWN_HOLDERS} more" if len(alive) > SHOWN_HOLDERS else ""
    return ", ".join(alive[:SHOWN_HOLDERS]) + more


def _held_message(path: Path) -> str:
    from engine.reports.doctor import command_line, store_holders
    from engine.text import printable

    holders = store_holders(path) if Path("/proc/self/fd").is_dir() else []
    pids = sorted({pid for pid, _ in holders})
    who = ", ".join(f"pid {pid} ({printable(command_line(pid))})"
                    for pid in pids[:SHOWN_HOLDERS])
    if len(pids) > SHOWN_HOLDERS:
        who += f" and {len(pids) - SHOWN_HOLDERS} more"
    return (f"{path}: in use by {who or 'another process (not visible here)'}; compact works "
            "offline only: stop them (`cappuccino stop all`, then `cappuccino stop supervisor`; "
            "the console too) and compact again; nothing was changed")
