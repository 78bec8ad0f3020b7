"""CPU, RAM and disk (of the store's filesystem) through psutil."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psutil

MB = 1024.0 * 1024.0


@dataclass(frozen=True)
class SystemReading:
    cpu_pct: float
    ram_used_mb: float
    ram_total_mb: float
    disk_used_mb: float
    disk_total_mb: float


def existing_dir(path: str | Path) -> Path:
    p = Path(path).resolve()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def read_system(disk_path: str | Path) -> SystemReading:
    """cpu_percent(None) is the use since the previous call (the sampler's interval)."""
    vm = psutil.virtual_memory()
    disk = psutil.disk_usage(str(existing_dir(disk_path)))
    return SystemReading(psutil.cpu_percent(interval=None), (vm.total - vm.available) / MB,
                         vm.total / MB, disk.used / MB, disk.total / MB)
