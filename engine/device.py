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
