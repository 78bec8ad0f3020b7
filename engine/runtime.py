"""Process-level helpers shared by every worker: store access, heartbeats, identity.

No torch here: the console imports this module (torch set-up is engine.device)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Self

from engine.config import Config
from engine.files import private_dir
from engine.log_once import OnceLog
from store.db import Store

# Set by the supervisor on each child: the name of its row in `processes`.
ENV_PROCESS_NAME = "CAPPUCCINO_PROCESS_NAME"
# A daemon's loop that makes no progress for its own period plus this long counts as hung.
STALL_MARGIN_S = 300.0


def stop_event() -> threading.Event:
    """An event set by SIGTERM/SIGINT, so a daemon finishes its cycle and exits cleanly."""
    ev = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: ev.set())
    return ev

def open_store(cfg: Config, *, create: bool = True) -> Store:
    return Store(cfg.store.path, create=create, busy_timeout_s=cfg.store.busy_timeout_s,
                 min_free_mb=cfg.store.min_free_mb)


def process_name(default: str = "") -> str:
    return os.environ.get(ENV_PROCESS_NAME, default)


def ensure_dir(path: str | Path) -> Path:
    return private_dir(path)


class Heartbeat:
    """Background thread that writes this process's heartbeat to the store.

    With `stall_s`, the beat also vouches for the main loop: the loop calls `tick()` each
    time round, and once it has gone `stall_s` without a tick the thread stops beating, so
    the supervisor's watchdog sees a hung loop, not just a dead process. Without `stall_s`
    (or before the first tick) the thread beats while the process lives.
    """

    def __init__(self, cfg: Config, name: str | None = None, interval_s: float | None = None,
                 stall_s: float | None = None):
        self.name = name or process_name()
        self.cfg = cfg
        self.interval = interval_s or cfg.supervisor.heartbeat_s
        self.stall_s = stall_s
        self._last_tick: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="heartbeat")

    def tick(self) -> None:
        """The main loop made progress (cheap: one clock read)."""
        self._last_tick = time.monotonic()

    def stalled(self) -> bool:
        last = self._last_tick
        return (self.stall_s is not None and last is not None
                and time.monotonic() - last > self.stall_s)

    def _run(self) -> None:
        from store.processes import heartbeat

        failures = OnceLog(__name__, f"heartbeat of {self.name}")
        store = open_store(self.cfg)
        try:
            while not self._stop.is_set():
                if not self.stalled():
                    try:
                        heartbeat(store, self.name)
                    except Exception as e:  # a busy or full store must not kill the worker
                        failures.error(e)
                self._stop.wait(self.interval)
        finally:
            store.close()

    def __enter__(self) -> Heartbeat:
        if self.name:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


class StoreBeat:
    """A daemon thread that calls `beat(store)` every [supervisor] heartbeat_s on its own
    store connection, from entering the `with` block to leaving it. `beat` must not raise
    (a busy or full store must not stop the work it vouches for)."""

    def __init__(self, cfg: Config, name: str) -> None:
        self.cfg = cfg
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)

    def beat(self, store: Store) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        store = open_store(self.cfg)
        try:
            while not self._stop.wait(self.cfg.supervisor.heartbeat_s):
                self.beat(store)
        finally:
            store.close()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
