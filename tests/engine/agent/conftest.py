"""One torch thread, as every Cappuccino process uses (engine.device.setup_torch)."""

from __future__ import annotations

import torch

torch.set_num_threads(1)
