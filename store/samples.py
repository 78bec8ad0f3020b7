"""GPU and system samples: batched inserts, downsampling of old rows, and retention.

Raw rows carry `resolution` = the sampler interval. Rows older than the raw horizon are
replaced by bucket averages (resolution = bucket seconds); rows older than keep_days go.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from store import kv
from store.db import Store
from store.rows import to_row, to_rows

MARK_KEY = "sampler.downsampled_until"


@dataclass(frozen=True)
class SystemSample:
    at: float
    cpu_pct: float
    ram_used_mb: float
    ram_total_mb: float
    disk_used_mb: float
    disk_total_mb: float
    gpu_status: str
    resolution: int


@dataclass(frozen=True)
class GpuSample:
    at: float
    gpu: int
    name: str | None
    mem_used_mb: float
    mem_total_mb: float
    util_pct: float | None
    temp_c: float | None
    resolution: int


@dataclass(frozen=True)
class GpuProcessSample:
    at: float
    gpu: int
    pid: int
    process: str | None
    mem_used_mb: float | None


def insert_samples(store: Store, system: Sequence[SystemSample], gpus: Sequence[GpuSample],
                   procs: Sequence[GpuProcessSample]) -> None:
    """One transaction for a whole batch (the sampler flushes every few tens of seconds)."""
    if not (system or gpus or procs):
        return
    with store.large_write():
        c = store.conn
        c.executemany("INSERT OR REPLACE INTO system_samples (at, cpu_pct, ram_used_mb, "
                      "ram_total_mb, disk_used_mb, disk_total_mb, gpu_status, resolution) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      [(s.at, s.cpu_pct, s.ram_used_mb, s.ram_total_mb, s.disk_used_mb,
                        s.disk_total_mb, s.gpu_status, s.resolution) for s in system])
        c.executemany("INSERT OR REPLACE INTO gpu_samples (at, gpu, name, mem_used_mb, "
                      "mem_total_mb, util_pct, temp_c, resolution) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      [(g.at, g.gpu, g.name, g.mem_used_mb, g.mem_total_mb, g.util_pct, g.temp_c,
                        g.resolution) for g in gpus])
        c.executemany("INSERT OR REPLACE INTO gpu_process_samples (at, gpu, pid, process, "
                      "mem_used_mb) VALUES (?, ?, ?, ?, ?)",
                      [(p.at, p.gpu, p.pid, p.process, p.mem_used_mb) for p in procs])


def downsample(store: Store, until: float, bucket_s: int) -> int:
    """Replace rows older than `until` (not yet done) by per-bucket averages. Returns rows removed.

    Idempotent: a bucket average sits alone at its bucket start, so redoing it changes nothing.
    """
    until = float(int(until // bucket_s) * bucket_s)  # only whole buckets
    with store.large_write():
        c = store.conn
        row = c.execute("SELECT value FROM kv WHERE key = ?", (MARK_KEY,)).fetchone()
        start = float(row[0]) if row else 0.0
        if until <= start:
            return 0
        b, w = bucket_s, (start, until)
        sys_rows = c.execute(
            "SELECT CAST(at / ? AS INTEGER) * ? AS bucket, AVG(cpu_pct), AVG(ram_used_mb), "
            "AVG(ram_total_mb), AVG(disk_used_mb), AVG(disk_total_mb), MAX(at), gpu_status "
            "FROM system_samples WHERE at >= ? AND at < ? GROUP BY bucket", (b, b, *w)).fetchall()
        gpu_rows = c.execute(
            "SELECT CAST(at / ? AS INTEGER) * ? AS bucket, gpu, MAX(at), name, AVG(mem_used_mb), "
            "AVG(mem_total_mb), AVG(util_pct), AVG(temp_c) FROM gpu_samples "
            "WHERE at >= ? AND at < ? GROUP BY bucket, gpu", (b, b, *w)).fetchall()
        proc_rows = c.execute(
            "SELECT CAST(at / ? AS INTEGER) * ? AS bucket, gpu, pid, MAX(process), "
            "AVG(mem_used_mb) FROM gpu_process_samples WHERE at >= ? AND at < ? "
            "GROUP BY bucket, gpu, pid", (b, b, *w)).fetchall()
        removed = 0
        for table in ("system_samples", "gpu_samples", "gpu_process_samples"):
            removed += c.execute(f"DELETE FROM {table} WHERE at >= ? AND at < ?", w).rowcount
        c.executemany("INSERT OR REPLACE INTO system_samples VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      [(float(r[0]), r[1], r[2], r[3], r[4], r[5], r[7], b) for r in sys_rows])
        c.executemany("INSERT OR REPLACE INTO gpu_samples (at, gpu, name, mem_used_mb, "
                      "mem_total_mb, util_pct, temp_c, resolution) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      [(float(r[0]), r[1], r[3], r[4], r[5], r[6], r[7], b) for r in gpu_rows])
        c.executemany("INSERT OR REPLACE INTO gpu_process_samples (at, gpu, pid, process, "
                      "mem_used_mb) VALUES (?, ?, ?, ?, ?)",
                      [(float(r[0]), r[1], r[2], r[3], r[4]) for r in proc_rows])
        kv.upsert(c, MARK_KEY, repr(until))
        return removed - len(sys_rows) - len(gpu_rows) - len(proc_rows)


def purge(store: Store, before: float) -> int:
    """Delete every sample older than `before`. Returns the number of rows deleted."""
    with store.write():
        return sum(store.conn.execute(f"DELETE FROM {t} WHERE at < ?", (before,)).rowcount
                   for t in ("system_samples", "gpu_samples", "gpu_process_samples"))


def latest_system(store: Store) -> SystemSample | None:
    return to_row(SystemSample, store.one("SELECT * FROM system_samples ORDER BY at DESC LIMIT 1"))


def latest_gpus(store: Store) -> list[GpuSample]:
    """The newest sample of each GPU (one seek per GPU on the (gpu, at) key)."""
    # A skip-scan: find each next GPU id with one index seek, never scanning the samples.
    return to_rows(GpuSample, store.query(
        "WITH RECURSIVE d(gpu) AS (SELECT min(gpu) FROM gpu_samples UNION ALL "
        "  SELECT (SELECT min(gpu) FROM gpu_samples WHERE gpu > d.gpu) FROM d "
        "  WHERE d.gpu IS NOT NULL) "
        "SELECT g.* FROM d "
        "JOIN gpu_samples g ON g.gpu = d.gpu AND g.at = "
        "  (SELECT max(at) FROM gpu_samples WHERE gpu = d.gpu) ORDER BY g.gpu"))


def gpus_since(store: Store, since: float) -> list[GpuSample]:
    return to_rows(GpuSample, store.query(
        "SELECT * FROM gpu_samples WHERE at >= ? ORDER BY gpu, at", (since,)))


def latest_gpu_processes(store: Store) -> list[GpuProcessSample]:
    return to_rows(GpuProcessSample, store.query(
        "SELECT * FROM gpu_process_samples WHERE at = (SELECT MAX(at) FROM gpu_process_samples) "
        "ORDER BY gpu, pid"))
