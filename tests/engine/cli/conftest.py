"""CLI tests: a config whose detached supervisor (and whatever it started) dies afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from engine.config import load_config
from engine.supervisor.lock import holder, lock_path
from store.db import Store


@pytest.fixture
def supervised_config(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """write(text) -> tmp_path/cappuccino.toml. Afterwards every process group started
    with it is SIGKILLed: the supervisor the CLI detached (the store lock's holder), the
    processes it registered, anything with the config on its command line."""
    paths: list[Path] = []

    def write(text: str) -> Path:
        path = tmp_path / "cappuccino.toml"
        path.write_text(text)
        paths.append(path)
        return path

    yield write
    for path in paths:
        kill_started_with(path)


def kill_started_with(path: Path) -> None:
    cfg = load_config(path, environ={})
    groups = {holder(lock_path(cfg.store.path))}
    if Path(cfg.store.path).exists():
        with Store(cfg.store.path, check=False) as s:
            groups |= {r["pid"] for r in s.query("SELECT pid FROM processes")}
    groups |= {p.pid for p in psutil.process_iter(["cmdline"])
               if str(path) in (p.info["cmdline"] or [])}
    for pgid in groups - {None, 0}:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
