"""A harness that runs real supervisors as subprocesses and always cleans up after them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from engine.config import Config, load_config
from engine.supervisor import lock
from engine.supervisor.client import supervisor_status
from store.commands import CommandRow, insert_command, wait_outcome
from store.db import Store
from store.processes import ProcessRow, get_process, list_processes

ROOT = Path(__file__).resolve().parents[3]
# The supervisor under test also runs "exec"/"exec-job" children (test kinds, never in
# production): see exec_supervisor.py.
EXEC_SUPERVISOR = str(Path(__file__).with_name("exec_supervisor.py"))

FAST = """
[supervisor]
poll_s = 0.05
heartbeat_s = 0.2
backoff_initial_s = 0.1
backoff_factor = 1.5
backoff_max_s = 0.5
stable_uptime_s = 3
max_quick_restarts = 3
stop_grace_s = 1
log_max_bytes = 10000
log_backups = 2
stale_heartbeats = 25
services = []
"""


class Harness:
    def __init__(self, tmp_path: Path, extra: str = "") -> None:
        self.tmp = tmp_path
        self.config_path = tmp_path / "cappuccino.toml"
        self.config_path.write_text(FAST + extra)
        self.cfg: Config = load_config(self.config_path, environ={})
        self.procs: list[subprocess.Popen[bytes]] = []
        self.extra_pids: list[int] = []
        self._n = 0

    # -- processes --------------------------------------------------------------------
    def cli(self, *argv: str, env: dict[str, str] | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "engine.cli.main", "--config", str(self.config_path), *argv],
            capture_output=True, text=True, timeout=timeout, cwd=ROOT,
            env=env if env is not None else dict(os.environ))

    def supervise(self, env: dict[str, str] | None = None, wait: bool = True,
                  production: bool = False) -> subprocess.Popen[bytes]:
        """A supervisor subprocess: the test one (with exec kinds), or production's own."""
        self._n += 1
        out = open(self.tmp / f"supervise-{self._n}.out", "wb")  # noqa: SIM115
        entry = ["-m", "engine.cli.main"] if production else [EXEC_SUPERVISOR]
        proc = subprocess.Popen(
            [sys.executable, *entry, "--config", str(self.config_path),
             "supervise"], stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=ROOT,
            start_new_session=True, env=env if env is not None else dict(os.environ))
        out.close()
        self.procs.append(proc)
        if wait:
            self.wait_for(lambda: supervisor_status(self.cfg) == (True, proc.pid)
                          and self.heartbeat_after(proc), what="supervisor heartbeat",
                          alive=proc)
        return proc

    def heartbeat_after(self, proc: subprocess.Popen[bytes]) -> bool:
        with self.store() as s:
            row = s.one("SELECT value FROM kv WHERE key = 'supervisor.pid'")
        return row is not None and int(row["value"]) == proc.pid

    def output(self, n: int = 1) -> str:
        return (self.tmp / f"supervise-{n}.out").read_text(errors="replace")

    # -- store ------------------------------------------------------------------------
    def store(self) -> Store:
        return Store(self.cfg.store.path, busy_timeout_s=10, check=False)

    def command(self, action: str, target: str | None = None,
                args: dict[str, Any] | None = None, timeout: float = 15) -> CommandRow:
        with self.store() as s:
            cid = insert_command(s, action, target, args, source="test")
            row = wait_outcome(s, cid, timeout, poll_s=0.05)
        assert row is not None
        assert row.state in ("done", "failed"), f"command #{cid} still {row.state}"
        return row

    def process(self, name: str) -> ProcessRow:
        with self.store() as s:
            row = get_process(s, name)
        assert row is not None, f"no row for {name}"
        return row

    def wait_for(self, pred: Callable[[], object], timeout: float = 20, what: str = "condition",
                 alive: subprocess.Popen[bytes] | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return
            if alive is not None and alive.poll() is not None:
                raise AssertionError(f"process exited ({alive.returncode}) waiting for {what}: "
                                     + self.output(self._n))
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def start_exec(self, name: str, argv: list[str], state: str = "RUNNING") -> ProcessRow:
        """Start `argv` as process `name` through the supervisor; its row once in `state`."""
        started = self.command("start", name, {"kind": "exec", "argv": argv})
        assert started.state == "done", started.result
        return self.wait_state(name, state)

    def wait_state(self, name: str, *states: str, timeout: float = 20) -> ProcessRow:
        self.wait_for(lambda: self.process(name).state in states, timeout,
                      f"{name} in {states}")
        return self.process(name)

    def detached(self) -> list[int]:
        """Live processes started with this config (supervisors the client started)."""
        live = []
        for pid in started_with(str(self.config_path)):
            with contextlib.suppress(psutil.Error):
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    live.append(pid)
        return live

    # -- cleanup ----------------------------------------------------------------------
    def cleanup(self) -> None:
        holder = lock.holder(lock.lock_path(self.cfg.store.path))
        groups = {p.pid for p in self.procs}
        if holder:
            groups.add(holder)
        if Path(self.cfg.store.path).exists():
            with contextlib.suppress(Exception), self.store() as s:
                groups |= {r.pid for r in list_processes(s) if r.pid}
        groups |= set(self.extra_pids)
        groups |= set(started_with(str(self.config_path)))  # detached by client.py
        for pgid in groups:
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGKILL)
        for p in self.procs:
            with contextlib.suppress(Exception):
                p.wait(timeout=5)


def started_with(arg: str) -> list[int]:
    """Pids of processes whose command line holds arg (e.g. supervisors the client started,
    including racing losers that may still be starting)."""
    return [p.pid for p in psutil.process_iter(["cmdline"])
            if arg in (p.info["cmdline"] or []) and p.pid != os.getpid()]  # iter skips the gone


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def _make(extra: str = "") -> Harness:
        h = Harness(tmp_path, extra)
        made.append(h)
        return h

    yield _make
    for h in made:
        h.cleanup()


@pytest.fixture
def script(tmp_path: Path) -> Callable[[str, str], list[str]]:
    """script("name.py", code) -> argv that runs it with this interpreter."""

    def _make(name: str, code: str) -> list[str]:
        path = tmp_path / name
        path.write_text(code)
        return [sys.executable, str(path)]

    return _make
