"""The torch device and thread count of a process (kept apart so light processes never
import torch)."""

from __future__ import annotations

from engine.config import Config


def setup_torch(cfg: Config) -> str:
    """Apply the thread count and return the device string to use ('cpu' or 'cuda:N')."""
    import torch

    torch.set_num_threads(cfg.runtime.torch_threads)
    dev = cfg.runtime.device
    if dev == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if dev.startswith("cuda") and not torch.cuda.is_available():
        return "cpu"
    return dev


def unusable(dev: str) -> str | None:
    """Why an explicit cuda or cuda:N cannot be used here, or None (auto and cpu always can).
    A study asked to train on a GPU must say so, not quietly train on the CPU."""
    if not dev.startswith("cuda"):
        return None
    import torch

    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
        return (f"{dev}: CUDA is not usable here (torch {torch.__version__}, {build}; "
                "`cappuccino doctor` says why)")
    index, count = int(dev.partition(":")[2] or 0), torch.cuda.device_count()
    if index >= count:
        return f"{dev}: there is no such GPU here ({count} visible)"
    return None
