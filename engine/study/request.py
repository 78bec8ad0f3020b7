"""What starting a study takes, validated once for every door: the CLI's `train`, the
console's `s` form and the supervisor's `train` command all build a TrainRequest here, so
a value the form accepts is one the command line accepts (and the other way round).

Light on purpose (the console imports it): no torch, no optuna.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "2h", "6h", "1d")
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,48}$")
DEVICE = re.compile(r"^(auto|cpu|cuda:\d{1,2})$")
MAX_TRIALS = 100_000
MAX_WORKERS = 64


class TrainArgsError(ValueError):
    """One line naming the field and what it must be."""


@dataclass(frozen=True)
class TrainRequest:
    study: str
    timeframe: str
    n_trials: int
    device: str | None = None  # None: the config's [runtime] device
    workers: int | None = None  # None: the config's [study] workers

    def argv(self) -> list[str]:
        """The `cappuccino train` arguments for this request (no program, no config)."""
        argv = ["train", "--study", self.study, "--timeframe", self.timeframe,
                "--n-trials", str(self.n_trials)]
        if self.device:
            argv += ["--device", self.device]
        if self.workers:
            argv += ["--workers", str(self.workers)]
        return argv


def _whole(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise TrainArgsError(f"{name}: a whole number from {low} to {high}, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"\d{1,9}", text):
            raise TrainArgsError(f"{name}: a whole number from {low} to {high}, got {value!r}")
        value = int(text)
    if not isinstance(value, int) or not low <= value <= high:
        raise TrainArgsError(f"{name}: a whole number from {low} to {high}, got {value!r}")
    return value


def device_of(device: object = None, gpu: object = None) -> str | None:
    """`device` (auto|cpu|cuda:N), or the older `gpu` N meaning cuda:N; None when neither."""
    if device not in (None, "") and gpu not in (None, ""):
        raise TrainArgsError("device: give a device or a GPU index, not both")
    if gpu not in (None, ""):
        if isinstance(gpu, str) and DEVICE.match(gpu.strip()):
            return gpu.strip()  # a device in the old field (older console rows)
        return f"cuda:{_whole('gpu', gpu, 0, 99)}"
    if device in (None, ""):
        return None
    if not isinstance(device, str) or not DEVICE.match(device.strip()):
        raise TrainArgsError(f"device: auto, cpu or cuda:N, got {device!r}")
    return device.strip()


def train_request(study: object, timeframe: object, n_trials: object,
                  device: object = None, workers: object = None,
                  gpu: object = None) -> TrainRequest:
    """Validate every field; raises TrainArgsError naming the first bad one."""
    if not isinstance(study, str) or not NAME.match(study.strip()):
        raise TrainArgsError(f"study: 1-48 letters, digits, '.', '_' or '-', got {study!r}")
    if timeframe not in TIMEFRAMES:
        raise TrainArgsError(f"timeframe: one of {', '.join(TIMEFRAMES)}, got {timeframe!r}")
    n = _whole("n_trials", n_trials, 1, MAX_TRIALS)
    w = None if workers in (None, "") else _whole("workers", workers, 1, MAX_WORKERS)
    return TrainRequest(study.strip(), str(timeframe), n, device_of(device, gpu), w)
