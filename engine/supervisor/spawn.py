"""Start children detached, know whether a recorded child is still the same process, signal groups.

A child runs in its own session (start_new_session), so it is the leader of a process
group whose id is its pid: stop/kill signal the whole group. Identity is (pid, create_time)
from psutil, because pids are reused. Secrets reach children only through the inherited
environment, never through argv.

Only a closed set of kinds is ever executed, each one cappuccino subcommand (`KINDS`): the
argv recorded in the processes table must start with its kind's subcommand, and the
executable is always this interpreter running engine.cli.main. There is no kind that runs
an arbitrary program; a test that needs one runs its own supervisor that registers it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from engine.config import Config
from engine.files import open_private, private_dir
from engine.runtime import ENV_PROCESS_NAME

ENV_CONFIG = "CAPPUCCINO_CONFIG"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# kind -> the cappuccino subcommand its argv must start with.
KINDS: dict[str, str] = {"trader": "trade", "study": "train", "trial": "worker",
                         "demo": "demo", "monitor": "monitor", "sampler": "sample",
                         "notifier": "notify", "telegram": "telegram"}
# A test's own supervisor may register kinds that build their own command line.
CUSTOM_KINDS: dict[str, Callable[[list[str]], list[str]]] = {}
# psutil derives create_time from boot time + start ticks: stable, but compare loosely.
CREATE_TIME_TOLERANCE_S = 0.05


class RefusedKind(OSError):
    """A processes row whose kind or argv is not one the supervisor runs."""


def valid_name(name: str) -> bool:
    """Process names become log file names and argv values: no slashes, no leading dot or
    dash, bounded length."""
    return bool(NAME_RE.match(name))


def config_file(cfg: Config) -> str | None:
    """The absolute config path when the config came from a file, else None."""
    src = cfg.source
    if src.startswith("<") or not src:
        return None
    return str(Path(src).resolve())


def command_line(cfg: Config, kind: str, argv: list[str]) -> list[str]:
    """This interpreter running the kind's cappuccino subcommand; RefusedKind otherwise."""
    if kind in CUSTOM_KINDS:
        return CUSTOM_KINDS[kind](list(argv))
    sub = KINDS.get(kind)
    if sub is None:
        raise RefusedKind(f"unknown process kind {kind[:20]!r}: not started")
    if not argv or argv[0] != sub or not all(isinstance(a, str) for a in argv):
        raise RefusedKind(f"a {kind} process runs `cappuccino {sub} ...`: not started")
    cmd = [sys.executable, "-m", "engine.cli.main"]
    path = config_file(cfg)
    if path:
        cmd += ["--config", path]
    return cmd + list(argv)


def child_env(cfg: Config, name: str) -> dict[str, str]:
    env = dict(os.environ)
    env[ENV_PROCESS_NAME] = name
    path = config_file(cfg)
    if path:
        env[ENV_CONFIG] = path
    return env


def log_path(cfg: Config, name: str) -> Path:
    return Path(cfg.paths.logs) / f"{name}.log"


def own_log_path(cfg: Config, name: str, recorded: str | None) -> Path:
    """The log of process `name`: the path its row records when that lies in [paths] logs,
    else the one the supervisor gives the name. A row is anyone's who can write the store,
    and a log is rotated (copied, then truncated) and printed: never a file elsewhere."""
    if recorded:
        path = Path(recorded)
        try:
            if path.resolve().is_relative_to(Path(cfg.paths.logs).resolve()):
                return path
        except (OSError, ValueError, RuntimeError):  # unresolvable: not ours either
            pass
    return log_path(cfg, name)


def open_append(path: Path) -> int:
    """O_APPEND: every write lands at the current end, so copytruncate rotation is safe."""
    private_dir(path.parent)
    return open_private(path, os.O_WRONLY | os.O_APPEND)


@dataclass(frozen=True)
class Spawned:
    popen: subprocess.Popen[bytes]
    pid: int
    create_time: float
    log_path: Path


def spawn(cfg: Config, name: str, kind: str, argv: list[str]) -> Spawned:
    """Start one child in its own session; raises OSError when it cannot be executed."""
    cmd = command_line(cfg, kind, argv)
    log = log_path(cfg, name)
    fd = open_append(log)
    try:
        popen = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd,
            close_fds=True, start_new_session=True, env=child_env(cfg, name))
    finally:
        os.close(fd)
    try:
        ct = psutil.Process(popen.pid).create_time()
    except psutil.Error:  # already gone and reaped elsewhere: poll() will tell us
        ct = 0.0
    return Spawned(popen, popen.pid, ct, log)


def same_process(pid: int | None, create_time: float | None, name: str | None = None) -> bool:
    """True when pid is alive (not a zombie) and is the process we recorded. With `name`
    (adopting a row): also a process spawned as that name, by its environment. A row's pid
    and create_time are anyone's to copy from /proc; the environment a supervisor gave its
    child is not, so a forged row never gets another process signalled."""
    if not pid or create_time is None:
        return False
    try:
        p = psutil.Process(pid)
        if abs(p.create_time() - create_time) > CREATE_TIME_TOLERANCE_S:
            return False
        if name is not None and p.environ().get(ENV_PROCESS_NAME) != name:
            return False
        return bool(p.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def is_supervisor(pid: int) -> bool:
    """Whether pid runs `cappuccino supervise`: the pid in a lock file is only a claim."""
    try:
        cmd = psutil.Process(pid).cmdline()
    except psutil.Error:
        return False
    return bool(cmd) and cmd[-1] == "supervise"


def group_of(pid: int) -> int:
    """The group to signal: the child's own group (it is a session leader), else just it."""
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return pid


def _group_members_linux(pgid: int) -> bool | None:
    """Whether a live (non-zombie) process has this group id; None when /proc is unusable."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after the last ')'.
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def group_alive(pgid: int) -> bool:
    """Whether any live process is left in the group. Zombies do not count: an orphan's
    zombie may linger where PID 1 does not reap."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    members = _group_members_linux(pgid)
    return True if members is None else members


def signal_group(pgid: int, sig: int) -> bool:
    """Send sig to the whole group; False when the group is already gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def kill_leftovers(pgid: int) -> None:
    """After a leader exits, its group must not linger (a stray worker would duplicate)."""
    with contextlib.suppress(OSError):
        os.killpg(pgid, signal.SIGKILL)


def describe_exit(code: int | None) -> str:
    if code is None:
        return "exited (status unknown: process was adopted)"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def last_log_line(path: Path | str | None, limit: int = 200) -> str:
    """The last non-empty line of a log, for last_error (children never log secrets)."""
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 4096))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
    return lines[-1][:limit] if lines else ""
