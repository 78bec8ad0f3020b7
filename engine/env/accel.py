"""How PortfolioVecEnv runs its fused step: eager, torch.compile'd, or replayed as a CUDA graph.

    eager    engine.env.fused.fused_step as written (the CPU path, always).
    compile  torch.compile(fused_step, fullgraph=True): a few fused kernels per vec step.
             Only where triton can build them (a CUDA device and triton importable); a
             compile that fails falls back to eager once, with a warning.
    graph    the eager step captured once in a CUDA graph and replayed (one launch plus
             the action's copy per vec step); state tensors are updated in place. CUDA only;
             a capture that fails falls back to eager.
    auto     compile where it can run, else eager. $CAPPUCCINO_ENV_STEP overrides auto.

Every mode returns the numbers of the eager step (tests/engine/env/test_fused.py on CPU;
engine.bench.gpu_check compares them on a GPU).
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Callable
from typing import Any

import torch

from engine.env.fused import Bars, FusedOut, fused_step
from engine.env.step import StepParams

MODES = ("auto", "eager", "compile", "graph")
StepFn = Callable[[StepParams, Bars, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                   torch.Tensor], FusedOut]

_compiled: dict[str, StepFn] = {}


def triton_usable(device: torch.device) -> bool:
    return device.type == "cuda" and importlib.util.find_spec("triton") is not None


def resolve_mode(mode: str, device: torch.device) -> str:
    """The mode a step will run in on device (auto and the environment variable resolved)."""
    if mode not in MODES:
        raise ValueError(f"step_mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "auto":
        mode = os.environ.get("CAPPUCCINO_ENV_STEP", "auto") or "auto"
        if mode not in MODES:
            raise ValueError(f"CAPPUCCINO_ENV_STEP must be one of {', '.join(MODES)}, "
                             f"got {mode!r}")
    if mode == "auto":
        return "compile" if triton_usable(device) else "eager"
    if mode == "graph" and device.type != "cuda":
        return "eager"   # CPU never uses a CUDA graph
    return mode


def compiled_step(backend: str = "inductor") -> StepFn:
    """fused_step compiled once per process and backend (every env shares its cache)."""
    if backend not in _compiled:
        # dynamic=None: the first env size compiles static, a second one recompiles with a
        # symbolic size that serves every later size (population buckets differ in size).
        fn: Any = torch.compile(fused_step, fullgraph=True, dynamic=None, backend=backend)
        _compiled[backend] = fn
    return _compiled[backend]


class Stepper:
    """Runs the fused step in one mode; falls back to eager if that mode fails to build."""

    def __init__(self, mode: str, device: torch.device, backend: str = "inductor") -> None:
        self.mode = resolve_mode(mode, device)
        self.backend = backend
        self._graph: _Graph | None = None

    def _fallback(self, e: Exception) -> None:
        warnings.warn(f"env step: {self.mode} failed ({type(e).__name__}: {e}); "
                      "running eager", RuntimeWarning, stacklevel=3)
        self.mode = "eager"
        self._graph = None

    def __call__(self, prm: StepParams, bars: Bars, cash: torch.Tensor,
                 holdings: torch.Tensor, ew: torch.Tensor, t: torch.Tensor,
                 act: torch.Tensor) -> FusedOut:
        try:
            if self.mode == "compile":
                return compiled_step(self.backend)(prm, bars, cash, holdings, ew, t, act)
            if self.mode == "graph":
                if self._graph is None or not self._graph.fits(cash, holdings, ew, t, act):
                    self._graph = _Graph(prm, bars, cash, holdings, ew, t, act)
                return self._graph.replay(act)
        except torch.cuda.OutOfMemoryError:
            raise   # the population's OOM handling halves it; not a build failure
        except Exception as e:   # a broken toolchain or capture must not stop training
            self._fallback(e)
        return fused_step(prm, bars, cash, holdings, ew, t, act)


class _Graph:
    """The eager step captured on the env's own state tensors, which it updates in place.

    Outputs other than the state are static buffers, overwritten by the next replay: the
    rollout collectors copy them into their buffers at once.
    """

    def __init__(self, prm: StepParams, bars: Bars, cash: torch.Tensor, holdings: torch.Tensor,
                 ew: torch.Tensor, t: torch.Tensor, act: torch.Tensor) -> None:
        self.state = (cash, holdings, ew, t)
        self.act = act.detach().clone()
        stream = torch.cuda.Stream(device=cash.device)  # type: ignore[no-untyped-call]  # torch.cuda.Stream is unannotated
        stream.wait_stream(torch.cuda.current_stream(cash.device))
        with torch.cuda.stream(stream):   # warm up on copies: the real state must not move
            for _ in range(2):
                fused_step(prm, bars, cash.clone(), holdings.clone(), ew.clone(), t.clone(),
                           self.act)
        torch.cuda.current_stream(cash.device).wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            out = fused_step(prm, bars, cash, holdings, ew, t, self.act)
            for dst, src in zip(self.state, out[:4], strict=True):
                dst.copy_(src)
        self.out = out._replace(cash=cash, holdings=holdings, ew=ew, t=t)

    def fits(self, cash: torch.Tensor, holdings: torch.Tensor, ew: torch.Tensor,
             t: torch.Tensor, act: torch.Tensor) -> bool:
        same = all(a.data_ptr() == b.data_ptr()
                   for a, b in zip(self.state, (cash, holdings, ew, t), strict=True))
        return same and act.shape == self.act.shape and act.dtype == self.act.dtype

    def replay(self, act: torch.Tensor) -> FusedOut:
        self.act.copy_(act)
        self.graph.replay()
        return self.out
