"""`cappuccino sample`: sample every interval_s, write in batches, apply the retention policy.

Rows are buffered and written in one transaction every flush_s (and on exit). Retention runs
every retention_every_s: rows older than raw_hours become downsample_s bucket averages; rows
older than keep_days are deleted.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

from engine.config import Config
from engine.runtime import STALL_MARGIN_S, Heartbeat, open_store, stop_event
from engine.sampler.gpu import Nvml
from engine.sampler.procmap import supervised_pids
from engine.sampler.system import read_system
from store.db import Store, StoreError, now
from store.samples import (
    GpuProcessSample,
    GpuSample,
    SystemSample,
    downsample,
    insert_samples,
    purge,
)

log = logging.getLogger("cappuccino.sampler")


class Sampler:
    def __init__(self, cfg: Config, store: Store, nvml: Nvml | None = None) -> None:
        self.cfg, self.store = cfg, store
        self.nvml = nvml or Nvml()
        self.resolution = max(int(round(cfg.sampler.interval_s)), 1)
        self.system: list[SystemSample] = []
        self.gpus: list[GpuSample] = []
        self.procs: list[GpuProcessSample] = []
        self.last_status = ""

    def sample(self, at: float) -> str:
        """Take one reading into the buffer. Returns the GPU status ('ok' or why not)."""
        snap = self.nvml.read(at)
        s = read_system(Path(self.cfg.store.path).parent)
        self.system.append(SystemSample(at, s.cpu_pct, s.ram_used_mb, s.ram_total_mb,
                                        s.disk_used_mb, s.disk_total_mb, snap.status,
                                        self.resolution))
        self.gpus.extend(GpuSample(at, g.gpu, g.name, g.mem_used_mb, g.mem_total_mb, g.util_pct,
                                   g.temp_c, self.resolution) for g in snap.gpus)
        if snap.procs:
            ours = supervised_pids(self.store)
            self.procs.extend(GpuProcessSample(at, p.gpu, p.pid, ours.get(p.pid), p.mem_used_mb)
                              for p in snap.procs)
        if snap.status != self.last_status:
            log.info("GPU status: %s", snap.status)
            self.last_status = snap.status
        return snap.status

    def flush(self) -> int:
        n = len(self.system) + len(self.gpus) + len(self.procs)
        insert_samples(self.store, self.system, self.gpus, self.procs)
        self.system, self.gpus, self.procs = [], [], []
        return n

    def retention(self, at: float) -> tuple[int, int]:
        c = self.cfg.sampler
        deleted = purge(self.store, at - c.keep_days * 86_400.0)  # first: no wasted averaging
        merged = downsample(self.store, at - c.raw_hours * 3600.0, c.downsample_s)
        return merged, deleted


def run(cfg: Config, once: bool = False) -> Sampler:
    store = open_store(cfg)
    sampler = Sampler(cfg, store)
    c = cfg.sampler
    stop = None if once else stop_event()
    last_flush = last_retention = -math.inf
    try:
        with Heartbeat(cfg, stall_s=c.interval_s + STALL_MARGIN_S) as hb:
            while True:
                hb.tick()
                t, m = now(), time.monotonic()  # schedules on monotonic: a clock step
                sampler.sample(t)                 # must not stop the writes for its length
                try:
                    if once or m - last_flush >= c.flush_s:
                        sampler.flush()
                        last_flush = m
                    if once or m - last_retention >= c.retention_every_s:
                        sampler.retention(t)
                        last_retention = m
                except StoreError as e:  # keep the buffer; the next flush retries it
                    log.error("sampler write failed: %s", e)
                if once or stop is None or stop.wait(c.interval_s):
                    break
    finally:
        try:
            sampler.flush()
        except StoreError as e:
            log.error("final flush failed: %s", e)
        store.close()
    return sampler
