"""Sample retention: raw rows, bucket averages after raw_hours, deletion after keep_days."""

from __future__ import annotations

import pytest

from engine.sampler.daemon import Sampler
from store.db import Store
from store.samples import (
    GpuProcessSample,
    GpuSample,
    SystemSample,
    downsample,
    insert_samples,
    latest_gpus,
    purge,
)

DAY = 86_400.0
T = 1_800_000_000.0  # a multiple of 300


def raw(store: Store, start: float, n: int, step: float = 5.0) -> None:
    sys_rows = [SystemSample(start + i * step, float(i % 10), 100.0 + i, 1000.0, 5.0, 50.0,
                             "ok" if i < n - 1 else "NVML gone", 5) for i in range(n)]
    gpus = [GpuSample(start + i * step, 0, "H100", 10.0 * (i % 2), 80.0, 50.0, 60.0, 5)
            for i in range(n)]
    procs = [GpuProcessSample(start + i * step, 0, 4242, "trainer-1", 4.0) for i in range(n)]
    insert_samples(store, sys_rows, gpus, procs)


def test_downsample_averages_whole_buckets_once(tmp_path) -> None:
    with Store(tmp_path / "s.db") as store:
        raw(store, T, 120)                      # 10 minutes of 5 s rows: two 300 s buckets
        removed = downsample(store, T + 600 + 7, 300)  # cut-off rounds down to T + 600
        assert removed == 3 * 120 - 3 * 2
        rows = store.query("SELECT * FROM system_samples ORDER BY at")
        assert [r["at"] for r in rows] == [T, T + 300]
        assert [r["resolution"] for r in rows] == [300, 300]
        assert rows[0]["cpu_pct"] == pytest.approx(sum(i % 10 for i in range(60)) / 60)
        assert rows[1]["ram_used_mb"] == pytest.approx(100 + sum(range(60, 120)) / 60)
        assert rows[1]["gpu_status"] == "NVML gone"  # the bucket's latest status
        g = store.query("SELECT * FROM gpu_samples ORDER BY at")
        assert [x["mem_used_mb"] for x in g] == [5.0, 5.0] and g[0]["name"] == "H100"
        p = store.query("SELECT * FROM gpu_process_samples ORDER BY at")
        assert [(x["at"], x["process"], x["mem_used_mb"]) for x in p] == [
            (T, "trainer-1", 4.0), (T + 300, "trainer-1", 4.0)]
        assert downsample(store, T + 600, 300) == 0  # done already
        raw(store, T + 600, 12)                      # newer raw rows stay raw
        assert downsample(store, T + 600 + 30, 300) == 0
        assert len(store.query("SELECT * FROM system_samples")) == 2 + 12
        assert [g.at for g in latest_gpus(store)] == [T + 600 + 55]


def test_purge_deletes_old_rows(tmp_path) -> None:
    with Store(tmp_path / "s.db") as store:
        raw(store, T - 40 * DAY, 3)
        raw(store, T, 3)
        assert purge(store, T - 30 * DAY) == 9
        assert len(store.query("SELECT * FROM system_samples")) == 3


def test_sampler_retention_uses_config(make_config) -> None:
    cfg = make_config("[sampler]\nraw_hours = 1\ndownsample_s = 60\nkeep_days = 1\n")
    with Store(cfg.store.path) as store:
        raw(store, T - 2 * DAY, 12)        # too old: deleted
        raw(store, T - 3 * 3600, 24)       # older than raw_hours: 60 s buckets
        raw(store, T - 600, 24)            # recent: raw
        merged, deleted = Sampler(cfg, store).retention(T)
        assert deleted == 3 * 12
        res = [r["resolution"] for r in store.query("SELECT resolution FROM system_samples "
                                                     "ORDER BY at")]
        assert res == [60, 60] + [5] * 24


def test_a_large_write_is_refused_below_the_stores_free_space_floor(tmp_path) -> None:
    """[store] min_free_mb reaches the batch writes: a sample batch is refused up front, whole,
    while a small write (a kv mark) still goes through."""
    from store import kv
    from store.db import StoreError, free_mb

    floor = free_mb(tmp_path) * 10 + 1e6
    with Store(tmp_path / "s.db", min_free_mb=floor) as store:
        try:
            raw(store, T, 12)
        except StoreError as e:
            assert "MB needed to write to the store" in str(e)
        else:
            raise AssertionError("a sample batch was written below the free-space floor")
        assert store.one("SELECT count(*) FROM system_samples")[0] == 0
        kv.put(store, "small", "1")
        assert kv.get(store, "small") == "1"
    with Store(tmp_path / "s.db", min_free_mb=1) as store:
        raw(store, T, 12)
        assert store.one("SELECT count(*) FROM system_samples")[0] == 12
