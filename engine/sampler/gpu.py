"""NVML readings (nvidia-ml-py, import name pynvml). Without NVML: a reason, never a crash."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MB = 1024.0 * 1024.0


@dataclass(frozen=True)
class GpuReading:
    gpu: int
    name: str | None
    mem_used_mb: float
    mem_total_mb: float
    util_pct: float | None
    temp_c: float | None


@dataclass(frozen=True)
class GpuProcReading:
    gpu: int
    pid: int
    mem_used_mb: float | None


@dataclass(frozen=True)
class GpuSnapshot:
    status: str                       # "ok", or why GPUs are unavailable
    gpus: tuple[GpuReading, ...]
    procs: tuple[GpuProcReading, ...]


class Nvml:
    """Initialise once; if that fails, keep the reason and retry only every `retry_s`."""

    def __init__(self, retry_s: float = 600.0) -> None:
        self.retry_s = retry_s
        self.ok = False
        self.reason = "not initialised"
        self._tried_at: float | None = None

    def _init(self, at: float) -> None:
        if self.ok or (self._tried_at is not None and at - self._tried_at < self.retry_s):
            return
        self._tried_at = at
        try:
            import pynvml

            pynvml.nvmlInit()
            self.ok, self.reason = True, "ok"
        except ImportError:
            self.reason = "nvidia-ml-py (pynvml) is not installed"
        except Exception as e:  # pynvml.NVMLError_LibraryNotFound and friends
            self.reason = f"NVML unavailable: {type(e).__name__}: {e}"

    def read(self, at: float) -> GpuSnapshot:
        self._init(at)
        if not self.ok:
            return GpuSnapshot(self.reason, (), ())
        import pynvml

        gpus, procs = [], []
        try:
            for i in range(pynvml.nvmlDeviceGetCount()):
                h = pynvml.nvmlDeviceGetHandleByIndex(i)
                mem = pynvml.nvmlDeviceGetMemoryInfo(h)
                name = pynvml.nvmlDeviceGetName(h)
                util = _opt(lambda handle: pynvml.nvmlDeviceGetUtilizationRates(handle).gpu, h)
                temp = _opt(pynvml.nvmlDeviceGetTemperature, h, pynvml.NVML_TEMPERATURE_GPU)
                gpus.append(GpuReading(i, name.decode() if isinstance(name, bytes) else str(name),
                                       mem.used / MB, mem.total / MB, util, temp))
                try:
                    running = pynvml.nvmlDeviceGetComputeRunningProcesses(h)
                except pynvml.NVMLError:
                    running = []
                for p in running:
                    used = getattr(p, "usedGpuMemory", None)
                    mb = None if used is None else used / MB
                    procs.append(GpuProcReading(i, int(p.pid), mb))
        except Exception as e:  # a GPU fell off the bus, driver reload...: report, retry later
            self.ok, self.reason = False, f"NVML read failed: {type(e).__name__}: {e}"
            return GpuSnapshot(self.reason, (), ())
        return GpuSnapshot("ok", tuple(gpus), tuple(procs))


def _opt(fn: Callable[..., float], *args: object) -> float | None:
    """fn(*args) as a float; None where NVML does not support it."""
    import pynvml

    try:
        return float(fn(*args))
    except pynvml.NVMLError:  # not supported on this board: shown as "-"
        return None
