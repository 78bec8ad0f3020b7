"""The notifier as a real process: SIGKILL it mid-way, restart it, nothing is lost."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.config import load_config
from engine.notify.events import emit
from store.db import Store

ROOT = Path(__file__).resolve().parents[3]
N = 30


def start_notifier(config: Path, url: str) -> subprocess.Popen:
    env = {**os.environ, "CAPPUCCINO_APPRISE_URLS": url, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--config", str(config),
                             "notify"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def wait_for(cond, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_nothing_lost_across_a_notifier_kill(config_path, receiver) -> None:
    config_path.write_text("[notify]\npoll_s = 0.1\nsummary = \"off\"\n")
    cfg = load_config(config_path, environ={})
    receiver.delay_s = 0.1  # slow receiver: the kill lands mid-way through the backlog
    receiver.start()
    with Store(cfg.store.path) as store:
        for i in range(N):
            emit(store, cfg, "alert", f"msg {i:02d}", "level changed", "warning",
                 trader=f"t{i}", model="m", trial=i)
        proc = start_notifier(config_path, receiver.url())
        try:
            assert wait_for(lambda: len(receiver.messages) >= 5), "notifier never delivered"
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            unsent = store.one("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")[0]
            assert 0 < unsent < N  # really killed mid-way
            proc = start_notifier(config_path, receiver.url())
            assert wait_for(lambda: store.one(
                "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")[0] == 0)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(10)
    counts = collections.Counter(m["title"] for m in receiver.messages)
    assert set(counts) == {f"msg {i:02d}" for i in range(N)}  # every message arrived
    # At-least-once: only the message in flight at the kill may arrive twice.
    assert sum(counts.values()) - N <= 1


def test_sigterm_stops_the_notifier_cleanly(config_path, receiver) -> None:
    config_path.write_text("[notify]\npoll_s = 0.1\nsummary = \"off\"\n")
    cfg = load_config(config_path, environ={})
    with Store(cfg.store.path) as store:
        emit(store, cfg, "process", "hello", "started", trader="t", model="m", trial=1)
    receiver.start()
    proc = start_notifier(config_path, receiver.url())
    assert wait_for(lambda: len(receiver.messages) == 1)  # it is in its loop
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
