"""The code torch.compile (inductor) generates for a call, so a bench can count its kernels.

torch has no public way to read inductor's generated code; `run_and_get_code` is the helper
torch's own tests use. It is reached from this module only, and torch's range is pinned in
pyproject.toml to the releases it was checked on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def run_and_get_code(fn: Callable[..., Any], *args: Any) -> tuple[Any, list[str]]:
    """fn(*args) (a compiled function) and the source of every module inductor generated."""
    from torch._inductor.utils import run_and_get_code as run  # private: see the docstring

    out, codes = run(fn, *args)
    return out, list(codes)
