"""The NVML code path, which this GPU-less machine cannot run for real: a stand-in `pynvml`
module with the real API's names and shapes, so the per-GPU and per-process readings, and
their mapping to our supervised processes, are exercised end to end into the store."""

from __future__ import annotations

import os
import sys
import types

import psutil

from engine.sampler.daemon import Sampler
from engine.sampler.gpu import Nvml
from store.db import Store, now
from store.processes import update_process, upsert_process
from store.samples import latest_gpu_processes, latest_gpus

MB = 1024 * 1024


class NVMLError(Exception):
    pass


def fake_pynvml(fail_temp: bool = False) -> types.ModuleType:
    m = types.ModuleType("pynvml")
    m.NVMLError = NVMLError
    m.NVML_TEMPERATURE_GPU = 0
    m.nvmlInit = lambda: None
    m.nvmlDeviceGetCount = lambda: 2
    m.nvmlDeviceGetHandleByIndex = lambda i: i
    m.nvmlDeviceGetName = lambda h: b"NVIDIA H100" if h == 0 else "NVIDIA H100"
    m.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(
        total=80_000 * MB, used=(1000 + h) * MB, free=0)
    m.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=40 + h, memory=5)

    def temp(h: int, kind: int) -> int:
        if fail_temp:
            raise NVMLError("Not Supported")
        return 60 + h

    m.nvmlDeviceGetTemperature = temp
    me = os.getpid()
    m.nvmlDeviceGetComputeRunningProcesses = lambda h: (
        [types.SimpleNamespace(pid=me, usedGpuMemory=512 * MB),
         types.SimpleNamespace(pid=999_999, usedGpuMemory=None)] if h == 0 else [])
    return m


def test_gpu_readings_and_process_mapping_reach_the_store(make_config, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml())
    cfg = make_config()
    with Store(cfg.store.path) as store:
        me = psutil.Process(os.getpid())
        upsert_process(store, "trainer-3", "trainer", ["train"])
        update_process(store, "trainer-3", pid=me.pid, create_time=me.create_time())
        sampler = Sampler(cfg, store, Nvml())
        assert sampler.sample(now()) == "ok"
        sampler.flush()
        gpus = latest_gpus(store)
        assert [(g.gpu, g.name, g.mem_used_mb, g.mem_total_mb, g.util_pct, g.temp_c)
                for g in gpus] == [(0, "NVIDIA H100", 1000.0, 80000.0, 40.0, 60.0),
                                   (1, "NVIDIA H100", 1001.0, 80000.0, 41.0, 61.0)]
        procs = {p.pid: p for p in latest_gpu_processes(store)}
        assert procs[me.pid].process == "trainer-3" and procs[me.pid].mem_used_mb == 512.0
        assert procs[999_999].process is None and procs[999_999].mem_used_mb is None
        assert store.one("SELECT gpu_status FROM system_samples")[0] == "ok"


def test_unsupported_fields_are_null_and_a_failing_read_is_reported(monkeypatch) -> None:
    mod = fake_pynvml(fail_temp=True)
    monkeypatch.setitem(sys.modules, "pynvml", mod)
    nv = Nvml(retry_s=0)
    snap = nv.read(1.0)
    assert snap.status == "ok" and [g.temp_c for g in snap.gpus] == [None, None]

    def gone() -> int:
        raise NVMLError("GPU is lost")

    mod.nvmlDeviceGetCount = gone
    snap = nv.read(2.0)
    assert snap.status == "NVML read failed: NVMLError: GPU is lost" and snap.gpus == ()


def test_missing_package_is_a_reason(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    assert Nvml().read(1.0).status == "nvidia-ml-py (pynvml) is not installed"
