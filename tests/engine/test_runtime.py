"""The heartbeat vouches for the main loop: it stops when the loop stops ticking; the
daemons' stop event is set by a real SIGTERM or SIGINT."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from engine.config import Config
from engine.runtime import Heartbeat, StoreBeat, open_store, stop_event
from store.db import Store
from store.processes import get_process, upsert_process


def _beat_age(cfg: Config) -> float:
    store = open_store(cfg)
    try:
        row = get_process(store, "p")
        assert row is not None and row.heartbeat_at is not None
        return time.time() - row.heartbeat_at
    finally:
        store.close()


def test_a_loop_that_stops_ticking_stops_the_beat(make_config: Callable[..., Config]) -> None:
    cfg = make_config()
    store = open_store(cfg)
    upsert_process(store, "p", "monitor", ["monitor"])
    store.close()
    with Heartbeat(cfg, name="p", interval_s=0.05, stall_s=0.4) as hb:
        for _ in range(8):  # a healthy loop
            hb.tick()
            time.sleep(0.05)
        assert _beat_age(cfg) < 0.3
        time.sleep(1.2)  # the loop hangs: no tick
        assert hb.stalled()
        assert _beat_age(cfg) > 0.6
        hb.tick()  # it recovers
        time.sleep(0.3)
        assert _beat_age(cfg) < 0.3


def test_without_stall_the_thread_beats_on_its_own(make_config: Callable[..., Config]) -> None:
    cfg = make_config()
    store = open_store(cfg)
    upsert_process(store, "p", "trial", ["worker"])
    store.close()
    with Heartbeat(cfg, name="p", interval_s=0.05) as hb:
        time.sleep(0.6)
        assert not hb.stalled()
        assert _beat_age(cfg) < 0.3


def test_store_min_free_mb_reaches_the_stores_large_writes(
        make_config: Callable[..., Config]) -> None:
    """[store] min_free_mb: large store writes are refused below this much free disk."""
    from store.db import StoreError, free_mb
    from store.samples import SystemSample, insert_samples

    assert open_store(make_config("")).min_free_mb == 200
    cfg = make_config("[store]\nmin_free_mb = 1000000000\n")
    store = open_store(cfg)
    assert store.min_free_mb == 1_000_000_000 > free_mb(cfg.store.path)
    row = SystemSample(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, "ok", 5)
    try:
        insert_samples(store, [row], [], [])
    except StoreError as e:
        assert "1000000000 MB needed" in str(e)
    else:
        raise AssertionError("the sample batch was not refused")
    store.close()


def test_stop_event_is_set_by_sigterm_and_by_sigint() -> None:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for sig in saved:
            ev = stop_event()
            assert not ev.is_set()
            os.kill(os.getpid(), sig)
            assert ev.wait(10), signal.Signals(sig).name
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


class _Counting(StoreBeat):
    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg, "counting-beat")
        self.stores: list[str] = []

    def beat(self, store: Store) -> None:
        self.stores.append(str(store.path))


def test_a_store_beat_beats_on_its_own_connection_until_the_block_ends(
        make_config: Callable[..., Config]) -> None:
    cfg = make_config("[supervisor]\nheartbeat_s = 0.05\n")
    with _Counting(cfg) as b:
        deadline = time.monotonic() + 30
        while len(b.stores) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(b.stores) >= 3
    assert not b._thread.is_alive()
    assert set(b.stores) == {str(cfg.store.path)}
    done = len(b.stores)
    time.sleep(0.2)  # four intervals: a stopped beat stays stopped
    assert len(b.stores) == done
