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
from tests.fakes.shifted_clock import clock_shift

ROOT = Path(__file__).resolve().parents[3]
N = 30


def start_notifier(config: Path, url: str,
                   extra: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "CAPPUCCINO_APPRISE_URLS": url, "PYTHONPATH": str(ROOT),
           **(extra or {})}
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
    # ...and in the order they happened, the repeat (if any) right after the kill.
    firsts = list(dict.fromkeys(m["title"] for m in receiver.messages))
    assert firsts == [f"msg {i:02d}" for i in range(N)]


@pytest.mark.slow
def test_after_an_outage_events_arrive_in_order_with_their_time(config_path, receiver) -> None:
    """A 60 s outage, shortened: the receiver is down while 80 events happen (the first 10
    a minute old), the notifier retries with backoff; once it is back, every event arrives
    once, in the order it happened, and the old ones say when they happened."""
    n, old = 80, 10
    config_path.write_text("[notify]\npoll_s = 0.1\nsummary = \"off\"\n"
                           "backoff_initial_s = 0.1\nbackoff_max_s = 0.8\n")
    cfg = load_config(config_path, environ={})
    with Store(cfg.store.path) as store:
        proc = start_notifier(config_path, receiver.url())
        try:
            for i in range(n):
                state = ("HALTED", "ACTIVE")[i % 2]
                emit(store, cfg, "trading_state", f"ev {i:02d} {state}", f"trader t went {state}",
                     "warning", trader="t")
                if i == old - 1:  # these happened a minute ago, before the outage began
                    with store.write():
                        store.conn.execute("UPDATE outbox SET created_at = created_at - 60")
                time.sleep(0.03)  # spread over ~2.5 s while every send fails
            assert wait_for(lambda: store.one(
                "SELECT MIN(attempts) FROM outbox WHERE id = (SELECT MIN(id) FROM outbox)")[0]
                >= 3), "the notifier never retried"
            receiver.start()
            assert wait_for(lambda: store.one(
                "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")[0] == 0)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
    titles = [m["title"] for m in receiver.messages]
    assert titles == [f"ev {i:02d} {('HALTED', 'ACTIVE')[i % 2]}" for i in range(n)]
    for m in receiver.messages[:old]:
        assert "(happened at " in m["message"] and "s late)" in m["message"]


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


def test_a_wall_clock_step_back_does_not_hold_a_retried_row_for_the_step(
        config_path, receiver, tmp_path) -> None:
    """A row in its retry backoff when the notifier's wall clock steps an hour back is
    still sent once the receiver is up (it waited out the hour, holding every later alert)."""
    config_path.write_text("[notify]\npoll_s = 0.1\nsummary = \"off\"\n"
                           "backoff_initial_s = 3\nbackoff_max_s = 3\n")
    cfg = load_config(config_path, environ={})
    shift, shifted = clock_shift(tmp_path)
    with Store(cfg.store.path) as store:
        emit(store, cfg, "alert", "first", "EMERGENCY", "failure", trader="t")
        proc = start_notifier(config_path, receiver.url(), extra=shifted)
        try:
            assert wait_for(lambda: store.one("SELECT attempts FROM outbox")[0] >= 1), \
                "the notifier never tried"
            shift.write_text("-3600")
            receiver.start()
            emit(store, cfg, "alert", "second", "EMERGENCY", "failure", trader="t")
            assert wait_for(lambda: len(receiver.messages) >= 2, timeout=30), \
                f"{len(receiver.messages)} of 2 delivered after the clock stepped back"
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
    assert [m["title"] for m in receiver.messages] == ["first", "second"]
