"""A real `cappuccino-console --serve` subprocess, and a websocket client that reads its screen."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from engine.config import load_config
from engine.supervisor import lock

ROOT = Path(__file__).resolve().parents[2]
URL_LINE = re.compile(r"Cappuccino console on (http://(\S+?):(\d+)/\?token=(\S+))")
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")

# Services off and a fast heartbeat: a console child may start a supervisor (not --readonly).
CONFIG = """
[supervisor]
services = []
heartbeat_s = 0.5
poll_s = 0.1
"""


def write_config(tmp: Path) -> Path:
    path = tmp / "cappuccino.toml"
    path.write_text(CONFIG)
    return path


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    out: Path
    url: str
    host: str
    port: int
    token: str

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws?width=120&height=40"

    def output(self) -> str:
        return self.out.read_text(errors="replace")


@contextlib.contextmanager
def served_console(config: Path, *args: str, timeout: float = 60) -> Iterator[Served]:
    out = config.parent / f"serve-{time.monotonic_ns()}.out"
    with open(out, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "console.main", "--config", str(config), "--serve",
             "--port", "0", *args], stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT,
            start_new_session=True, env=dict(os.environ))
    try:
        deadline = time.monotonic() + timeout
        while not (m := URL_LINE.search(out.read_text(errors="replace"))):
            if proc.poll() is not None:
                raise AssertionError(f"--serve exited {proc.returncode}: {out.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"--serve printed no URL in {timeout}s: {out.read_text()}")
            time.sleep(0.1)
        yield Served(proc, out, m.group(1), m.group(2), int(m.group(3)), m.group(4))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def stop_supervisor(config: Path, timeout: float = 30) -> None:
    """SIGTERM the supervisor a console child started (it runs detached), and wait for it."""
    cfg = load_config(config, environ={})
    pid = lock.holder(lock.lock_path(cfg.store.path))
    if not pid:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


class Screen:
    """What a browser's terminal would have received, escape codes stripped."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.raw = bytearray()

    def text(self) -> str:
        return ANSI.sub("", self.raw.decode("utf-8", "replace"))

    async def wait_for(self, needle: str, timeout: float = 60) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while needle not in self.text():
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"{needle!r} not on screen in {timeout}s: "
                                     f"{self.text()[-2000:]!r}")
            try:
                msg = await asyncio.wait_for(self.ws.receive(), left)
            except TimeoutError:
                continue
            if msg.type == aiohttp.WSMsgType.BINARY:
                self.raw += msg.data
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                              aiohttp.WSMsgType.ERROR):
                raise AssertionError(f"websocket closed waiting for {needle!r}: "
                                     f"{self.text()[-2000:]!r}")

    async def press(self, key: str) -> None:
        await self.ws.send_str(json.dumps(["stdin", key]))

    def mark(self) -> None:
        """Forget what was received so far: the next wait_for sees only new output."""
        self.raw.clear()
