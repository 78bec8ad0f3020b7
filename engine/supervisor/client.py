"""What the console and the CLI use to talk to the supervisor: probe it, start it, command it.

Light on purpose (the console imports it): no torch, no psutil scan, no engine workers.
Talking is only through the store's `commands` table; nobody but the supervisor touches
a supervised process.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.config import Config
from engine.supervisor import lock
from store import kv
from store.commands import CommandRow, get_command, insert_command, wait_outcome
from store.db import Store, StoreError

KV_PID = "supervisor.pid"
KV_HEARTBEAT = "supervisor.heartbeat"
SUPERVISOR_LOG = "supervisor.log"


class SupervisorError(Exception):
    """The supervisor could not be started or reached; phrased for the operator."""


def _open(cfg: Config, create: bool) -> Store:
    # check=False: a probe must not pay a quick_check on a large store (the supervisor does).
    return Store(cfg.store.path, create=create, busy_timeout_s=cfg.store.busy_timeout_s,
                 check=False)


def ready(cfg: Config) -> bool:
    """Whether the store file is past creation. Opening a file that another process is
    creating right now can fail both sides with "disk I/O error" (measured: 9 of 20 races),
    so probes wait until SQLite's 100-byte header is on disk."""
    try:
        return Path(cfg.store.path).stat().st_size >= 100
    except OSError:
        return False


def heartbeat_age(cfg: Config, store: Store | None = None) -> float | None:
    """Seconds since the supervisor's last heartbeat, or None when there is none."""
    own = store is None
    if own:
        if not ready(cfg):
            return None
        try:
            store = _open(cfg, create=False)
        except StoreError:  # being created by a starting supervisor right now: no beat yet
            return None
    assert store is not None  # passed in, or opened just above
    try:
        raw = kv.get(store, KV_HEARTBEAT)
    except sqlite3.Error:
        return None
    finally:
        if own:
            store.close()
    try:
        return max(0.0, time.time() - float(raw)) if raw else None
    except ValueError:
        return None


def supervisor_status(cfg: Config, store: Store | None = None) -> tuple[bool, int | None]:
    """(alive, pid). Alive: the lock is held and the heartbeat is fresh (or just starting)."""
    pid = lock.holder(lock.lock_path(cfg.store.path))
    if pid is None:
        return False, None
    age = heartbeat_age(cfg, store)
    stale_after = cfg.supervisor.heartbeat_s * cfg.supervisor.stale_heartbeats
    fresh = age is None or age <= max(stale_after, cfg.supervisor.poll_s * 4)
    return fresh, pid or None


def supervise_argv(cfg: Config) -> list[str]:
    from engine.supervisor.spawn import config_file

    argv = [sys.executable, "-m", "engine.cli.main"]
    path = config_file(cfg)
    if path:
        argv += ["--config", path]
    return argv + ["supervise"]


def _log_tail(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def ensure_supervisor(cfg: Config) -> int:
    """Return the running supervisor's pid, starting one detached when none is running."""
    # The lock holder is the supervisor, even when its heartbeat lags (a busy machine):
    # never start a second one; `status` shows it as not alive if the lag persists.
    pid = lock.holder(lock.lock_path(cfg.store.path))
    if pid:
        return pid
    from engine.supervisor.spawn import open_append

    logfile = Path(cfg.paths.logs) / SUPERVISOR_LOG
    started = time.time()
    fd = open_append(logfile)
    try:
        proc = subprocess.Popen(supervise_argv(cfg), stdin=subprocess.DEVNULL, stdout=fd,
                                stderr=fd, close_fds=True, start_new_session=True,
                                env=dict(os.environ))
    finally:
        os.close(fd)
    deadline = time.monotonic() + cfg.supervisor.start_timeout_s
    while time.monotonic() < deadline:
        _, pid = supervisor_status(cfg)
        if pid:  # ours, or one that won a race with ours: wait for a heartbeat from now on
            age = heartbeat_age(cfg)
            if age is not None and age <= time.time() - started + 0.5:
                return pid
        elif proc.poll() is not None:
            raise SupervisorError(f"supervisor exited with code {proc.returncode}: "
                                  f"{_log_tail(logfile) or 'see ' + str(logfile)}")
        time.sleep(0.05)
    raise SupervisorError(f"supervisor did not send a heartbeat within "
                          f"{cfg.supervisor.start_timeout_s:g}s; see {logfile}")


def send_command(cfg: Config, action: str, target: str | None = None,
                 args: dict[str, Any] | None = None, source: str = "cli",
                 wait_s: float = 30.0) -> CommandRow:
    """Ensure the supervisor, insert the command, wait up to wait_s for its outcome.

    Returns the last row seen: state 'done' or 'failed', or still 'pending'/'running'
    when wait_s ran out.
    """
    ensure_supervisor(cfg)
    store = _open(cfg, create=True)
    try:
        cid = insert_command(store, action, target, args, source)
        row = wait_outcome(store, cid, wait_s) if wait_s > 0 else get_command(store, cid)
    finally:
        store.close()
    if row is None:
        raise SupervisorError(f"command #{cid} vanished from the store")
    return row


# -- stop / restart / kill from the CLI: wait for the real outcome -------------------------
SETTLED = ("STOPPED", "EXITED", "FATAL")
INTERRUPTED = "interrupted"  # store.commands.fail_running's result, written by a new supervisor


@dataclass(frozen=True)
class Outcome:
    ok: bool | None  # None: no outcome by the deadline
    text: str


def control_wait_s(cfg: Config, action: str) -> float:
    """How long `stop`/`restart`/`kill` wait: the grace period, a start for a restart, and a
    margin for a busy supervisor (several polls and a stale heartbeat)."""
    s = cfg.supervisor
    margin = max(15.0, 10 * s.poll_s + s.heartbeat_s * s.stale_heartbeats)
    return s.stop_grace_s + (s.start_timeout_s if action in ("restart", "start") else 0.0) + margin


def control(cfg: Config, action: str, name: str, wait_s: float | None = None) -> Outcome:
    """Send stop/restart/kill/start for `name` ('all' for stop) and follow it to its outcome:
    the command's row, and the processes' own rows (a supervisor that dies meanwhile is
    started again; it finishes the job from the desired states)."""
    from store.processes import list_processes

    ensure_supervisor(cfg)
    wait = control_wait_s(cfg, action) if wait_s is None else wait_s
    store = _open(cfg, create=True)
    try:
        before = {r.name: r.pid for r in list_processes(store)}
        cid = insert_command(store, action, name, {}, "cli")
        return _follow(cfg, store, cid, action, name, before, wait)
    finally:
        store.close()


def _follow(cfg: Config, store: Store, cid: int, action: str, name: str,
            before: dict[str, int | None], wait: float) -> Outcome:
    from store.processes import list_processes

    deadline = time.monotonic() + wait
    restarted = ""
    settled_at: float | None = None
    while True:
        row = get_command(store, cid)
        if row is None:
            return Outcome(False, f"command #{cid} vanished from the store")
        interrupted = row.state == "failed" and (row.result or "").startswith(INTERRUPTED)
        if row.state in ("done", "failed") and not interrupted:
            return Outcome(row.state == "done", (row.result or row.state) + restarted)
        procs = [p for p in list_processes(store) if name in ("all", p.name)]
        if _reached(action, procs, before):
            # The processes are there; the command's row follows within a poll or two.
            settled_at = settled_at or time.monotonic()
            if interrupted or time.monotonic() - settled_at > 4 * cfg.supervisor.poll_s + 1:
                return Outcome(True, _describe(action, procs) + restarted)
        if lock.holder(lock.lock_path(cfg.store.path)) is None:
            # The supervisor died: a new one adopts the children and carries out the desired
            # states the command already wrote.
            ensure_supervisor(cfg)
            restarted = " (the supervisor had to be started again meanwhile)"
        if time.monotonic() >= deadline:
            states = ", ".join(f"{p.name} {p.state}" + (f" (pid {p.pid})" if p.pid else "")
                               for p in procs) or "no such process"
            return Outcome(None, f"command #{cid} ({action} {name}) still {row.state} after "
                                 f"{wait:g}s: {states}; see `cappuccino ps`")
        time.sleep(0.1)


def _reached(action: str, procs: list[Any], before: dict[str, int | None]) -> bool:
    if not procs:
        return False
    if action in ("stop", "kill"):
        return all(p.state in SETTLED and not p.pid for p in procs)
    if action == "restart":
        return all(p.state == "RUNNING" and p.pid and p.pid != before.get(p.name) for p in procs)
    return all(p.state == "RUNNING" and p.pid for p in procs)  # start


def _describe(action: str, procs: list[Any]) -> str:
    if action in ("stop", "kill"):
        return "; ".join(f"{p.name} {p.state}" for p in procs)
    return "; ".join(f"{p.name} RUNNING (pid {p.pid})" for p in procs)
