"""`cappuccino monitor` as a supervised daemon: one cycle every interval_s, heartbeat between."""

from __future__ import annotations

import logging

from engine.config import Config
from engine.monitor.cycle import Verdict, run_cycle
from engine.runtime import STALL_MARGIN_S, Heartbeat, open_store, stop_event
from store.db import StoreError, now

log = logging.getLogger("cappuccino.monitor")


def describe(v: Verdict) -> str:
    flags = (" [alerted]" if v.alerted else "") + (" [STOPPED]" if v.stopped else "")
    return f"{v.trader:20s} {v.mode:5s} {v.state:28s} {v.message}{flags}"


def run(cfg: Config, once: bool = False) -> list[Verdict]:
    store = open_store(cfg)
    stop = None if once else stop_event()
    try:
        # A cycle that hangs past the next one (plus margin) stops the beat: the watchdog acts.
        with Heartbeat(cfg, stall_s=cfg.monitor.interval_s + STALL_MARGIN_S) as hb:
            while True:
                hb.tick()
                try:
                    verdicts = run_cycle(cfg, store, now())
                except StoreError as e:  # a busy or full store: try again next cycle
                    log.error("monitor cycle failed: %s", e)
                    verdicts = []
                for v in verdicts:
                    log.info("%s", describe(v))
                if once or stop is None:
                    return verdicts
                if stop.wait(cfg.monitor.interval_s):
                    return verdicts
    finally:
        store.close()
