"""The env step measured per step mode (engine.env.accel): launches, syncs, rates, agreement.

Used by engine.bench.gpu_check. Every function works on any device; the figures that only
a CUDA device can give are None there, with the reason in `why_null`.

kernels    CUDA kernels, memcpys and memsets the device ran, per vec step (profiler)
launches   host-side launch calls per vec step (cudaLaunchKernel, cuLaunchKernel,
           cudaGraphLaunch, cudaMemcpyAsync, cudaMemsetAsync): what the goal of <= 12 counts
syncs      host synchronisations per vec step (torch.cuda.set_sync_debug_mode("warn"))
aten_ops   aten ops dispatched per vec step (CPU profiler; a compiled step dispatches few)
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import torch

LAUNCH_CALLS = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernelEx",
                "cudaGraphLaunch", "cudaMemcpyAsync", "cudaMemsetAsync")
NO_CUDA = "needs a CUDA device"


def make_env(device: str, n: int, mode: str, population: int = 0) -> Any:
    """A vec env of n envs (population > 0: that many members sharing them) on bench data."""
    from engine.bench.population import EPISODE, _data
    from engine.config.schema import EnvSection

    prices, feats, spec = _data()
    if population:
        from engine.population.env import PopulationVecEnv

        return PopulationVecEnv(prices, feats, spec, EnvSection(), n // population, device,
                                [EPISODE] * population, list(range(population)),
                                [((0, prices.shape[0]),)] * population, step_mode=mode)
    from engine.env.vec_env import PortfolioVecEnv

    return PortfolioVecEnv(prices, feats, spec, EnvSection(), n, device, episode_len=EPISODE,
                           seed=1, step_mode=mode)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _actions(env: Any, device: str, k: int = 4) -> list[torch.Tensor]:
    gen = torch.Generator(device=device).manual_seed(0)
    return [torch.rand(env.n_envs, env.act_dim, generator=gen, device=device) * 2 - 1
            for _ in range(k)]


def warm(env: Any, device: str) -> tuple[list[torch.Tensor], float]:
    """Reset, compile/capture and warm up; returns the actions and the seconds it took."""
    acts = _actions(env, device)
    t0 = time.perf_counter()
    env.reset()
    for i in range(3):
        env.step(acts[i % len(acts)])
    _sync(device)
    return acts, time.perf_counter() - t0


def step_counts(device: str, n: int, mode: str, population: int = 0, steps: int = 10
                ) -> dict[str, Any]:
    """Per vec step (no episode end inside): aten ops, and on CUDA kernels, launches, syncs."""
    from torch.profiler import ProfilerActivity, profile

    env = make_env(device, n, mode, population)
    acts, warm_s = warm(env, device)
    cuda = device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for i in range(steps):
            env.step(acts[i % len(acts)])
        _sync(device)
    events = prof.events()
    out: dict[str, Any] = {
        "n_envs": env.n_envs, "mode": env.stepper.mode, "warmup_s": round(warm_s, 2),
        "aten_ops": sum(e.name.startswith("aten::") for e in events) / steps,
        "kernels": None, "launches": None, "syncs": None}
    if not cuda:
        out["why_null"] = f"kernels, launches, syncs: {NO_CUDA}"
        return out
    out["kernels"] = sum(e.device_type.name == "CUDA" for e in events) / steps
    out["launches"] = sum(e.name in LAUNCH_CALLS for e in events) / steps
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for i in range(steps):
                env.step(acts[i % len(acts)])
        finally:
            torch.cuda.set_sync_debug_mode("default")
    out["syncs"] = sum("synchroniz" in str(w.message).lower() for w in caught) / steps
    return out


def step_rate(device: str, n: int, mode: str, seconds: float = 3.0) -> dict[str, Any]:
    """Vec steps per second (episode ends included, as training sees them) for ~seconds."""
    env = make_env(device, n, mode)
    acts, warm_s = warm(env, device)
    steps, t0 = 0, time.perf_counter()
    while True:
        for i in range(8):
            env.step(acts[i % len(acts)])
        steps += 8
        _sync(device)
        wall = time.perf_counter() - t0
        if wall >= seconds:
            break
    return {"n_envs": n, "mode": env.stepper.mode, "warmup_s": round(warm_s, 2),
            "vec_steps_per_s": round(steps / wall, 1),
            "env_steps_per_s": round(steps * n / wall)}


def modes_agree(device: str, n: int, modes: tuple[str, ...], steps: int = 40
                ) -> dict[str, Any]:
    """Largest difference of obs and reward between each mode and eager over `steps` vec steps
    (an episode end included), same actions."""
    from engine.bench.population import EPISODE

    envs = {m: make_env(device, n, m) for m in ("eager",) + modes}
    for env in envs.values():
        env.episode_len = min(env.episode_len, steps // 2)   # cross an episode end
    acts = _actions(envs["eager"], device)
    outs: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {m: [] for m in envs}
    for m, env in envs.items():
        env.reset()
        for i in range(steps):
            obs, reward, _d, _info = env.step(acts[i % len(acts)])
            outs[m].append((obs.clone(), reward.clone()))
    res: dict[str, Any] = {"n_envs": n, "steps": steps, "episode": min(EPISODE, steps // 2)}
    for m in modes:
        d_obs = max(float((a[0] - b[0]).abs().max()) for a, b in zip(outs[m], outs["eager"],
                                                                       strict=True))
        d_rew = max(float((a[1] - b[1]).abs().max()) for a, b in zip(outs[m], outs["eager"],
                                                                       strict=True))
        res[m] = {"ran_as": envs[m].stepper.mode, "max_abs_obs": d_obs,
                  "max_abs_reward": d_rew}
    return res


def compiled_kernels(device: str, n: int = 512) -> dict[str, Any]:
    """What torch.compile (inductor) makes of one vec step on device: its fused kernels and
    the calls it leaves to library kernels, read from the generated code; and the largest
    difference of its outputs from the eager step's."""
    import re

    from engine.bench.inductor_code import run_and_get_code
    from engine.env.fused import fused_step

    env = make_env(device, n, "eager")
    env.reset()
    act = _actions(env, device, 1)[0]
    args = (env.params, env.bars, env.cash, env.holdings, env.ew, env.t, act)
    fn = torch.compile(fused_step, fullgraph=True, dynamic=False)
    t0 = time.perf_counter()
    out, codes = run_and_get_code(fn, *args)
    compile_s = time.perf_counter() - t0
    code = "\n".join(codes)
    fused = re.findall(r"^\s*(\w+) = async_compile\.", code, re.M)
    extern = re.findall(r"(extern_kernels\.\w+|aten\.\w+\.\w+)\(", code)
    ref = fused_step(*args)
    diff = max(float((a.double() - b.double()).abs().max()) for a, b in zip(out, ref, strict=True))
    return {"device": device, "n_envs": n, "fused_kernels": len(fused),
            "library_calls": len(extern), "kernels": len(fused) + len(extern),
            "compile_s": round(compile_s, 1), "max_abs_diff_from_eager": diff,
            "names": fused + extern}
