"""The env step measured per step mode (engine.env.accel): launches, syncs, rates, agreement.

Used by engine.bench.gpu_check. Every function works on any device; the figures that only
a CUDA device can give are None there, with the reason in `why_null`.

kernels    CUDA kernels, memcpys and memsets the device ran, per vec step (profiler)
launches   host-side launch calls per vec step (cudaLaunchKernel, cuLaunchKernel,
           cudaGraphLaunch, cudaMemcpyAsync, cudaMemsetAsync): what the goal of <= 12 counts
syncs      host synchronisations per vec step: the larger of torch.cuda.set_sync_debug_mode's
           warnings and the profiler's blocking calls (cudaStreamSynchronize, ...)
aten_ops   aten ops dispatched per vec step (CPU profiler; a compiled step dispatches few)

A count of 0 is only believed when a control in the same process counts what it must: a few
known kernels under the same profiler (else a renamed event or a profiler without CUDA
activity would read as "0 kernels", a perfect score) and one `.item()` under the same sync
detector. A count the controls cannot vouch for is None, "not measured", with the reason.
"""

from __future__ import annotations

import functools
import re
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import torch

# Host-side CUDA runtime/driver calls as kineto names them (cupti's callback names; torch's
# own torch/profiler/_cupti_monitor_trace.py lists the same), compared without a version or
# per-thread-stream suffix (cudaLaunchKernel_v7000, cudaMemcpyAsync_ptsz): see _base.
LAUNCH_CALLS = frozenset((
    "cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernelEx",
    "cudaLaunchCooperativeKernel", "cudaGraphLaunch", "cuGraphLaunch", "cudaMemcpyAsync",
    "cudaMemsetAsync", "cuMemcpyAsync", "cuMemcpyHtoDAsync", "cuMemcpyDtoHAsync",
    "cuMemsetD32Async", "cuMemsetD8Async"))
# Calls that block the host until the device catches up. cudaDeviceSynchronize is left out:
# only the bench's own torch.cuda.synchronize() makes it, after the measured steps.
SYNC_CALLS = frozenset((
    "cudaStreamSynchronize", "cudaEventSynchronize", "cudaMemcpy", "cuStreamSynchronize",
    "cuEventSynchronize", "cuCtxSynchronize", "cuMemcpyDtoH", "cudaMemcpyFromSymbol"))
NO_CUDA = "needs a CUDA device"
MIN_CONTROL_KERNELS = 2   # the kernel control runs x * 2 + 1: two kernels, two launches


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


def _is_cuda_api(name: str) -> bool:
    return name.startswith("cuda") or (name.startswith("cu") and name[2:3].isupper())


def _base(name: str) -> str:
    """A CUDA API call's name without cupti's version or per-thread-stream suffix."""
    return re.sub(r"(_v\d+|_ptsz|_ptds)+$", "", name)


def count_events(events: Iterable[Any], steps: int) -> dict[str, Any]:
    """Per step, from a profile's events: device kernels (memcpys and memsets included), host
    launch calls, blocking host calls, aten ops, and every CUDA API call by name (so a note can
    tell which names this torch's profiler used)."""
    kernels = launches = syncs = aten = 0
    api: Counter[str] = Counter()
    for e in events:
        if e.device_type.name == "CUDA":
            kernels += 1
        elif e.name.startswith("aten::"):
            aten += 1
        elif _is_cuda_api(e.name):
            api[e.name] += 1
            launches += _base(e.name) in LAUNCH_CALLS
            syncs += _base(e.name) in SYNC_CALLS
    return {"kernels": kernels / steps, "launches": launches / steps,
            "profiler_syncs": syncs / steps, "aten_ops": aten / steps,
            "api_calls": {k: v / steps for k, v in sorted(api.items())}}


def vouch(counts: dict[str, Any], control: dict[str, Any], sync_warnings: float | None,
          mode: str = "eager") -> dict[str, Any]:
    """The step's counts as figures: kernels and launches only where the kernel control saw
    its kernels and the step itself any; syncs only where the sync control was caught (or the
    profiler saw a blocking call, which is a sync whatever the detector says). Else None with
    the reason: a wrong event name or a deaf detector must read as "not measured", not as 0.
    Outside a CUDA graph every device kernel was launched by a host call, so fewer launch
    calls than kernels means some launch API went unseen (triton's cuLaunchKernel, say): the
    kernel count then stands for the launches."""
    out = dict(counts, sync_warnings=sync_warnings)
    why: list[str] = []
    if mode != "graph" and 0 < counts["launches"] < counts["kernels"]:
        out["launches"] = counts["kernels"]
        out["launches_note"] = (f"{counts['launches']:g} launch calls seen for "
                                f"{counts['kernels']:g} kernels: the kernel count stands for "
                                "them")
    deaf = (control["kernels"] < MIN_CONTROL_KERNELS
            or control["launches"] < MIN_CONTROL_KERNELS)
    for key in ("kernels", "launches"):
        if deaf:
            out[key] = None
            why.append(f"{key}: not measured: a control of {MIN_CONTROL_KERNELS} known kernels "
                       f"counted {control['kernels']} kernels and {control['launches']} launch "
                       f"calls (API calls seen: {sorted(control.get('api_calls', {}))})")
        elif not out[key]:
            out[key] = None
            why.append(f"{key}: not measured: the profiler saw none in the step while the "
                       f"control counted {control[key]}")
    if sync_warnings is None or control.get("sync_warnings", 0) < 1:
        out["syncs"] = counts["profiler_syncs"] or None
        if out["syncs"] is None:
            why.append("syncs: not measured: set_sync_debug_mode('warn') did not report the "
                       "control's .item()")
    else:
        out["syncs"] = max(sync_warnings, counts["profiler_syncs"])
    if why:
        out["why_null"] = "; ".join(why)
    return out


def _sync_warnings(fn: Callable[[], Any], times: int) -> float:
    """Synchronising CUDA operations per call of fn, by torch's sync debug mode."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(times):
                fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message).lower() for w in caught) / times


@functools.cache
def control(device: str) -> dict[str, Any]:
    """What the counters see of work known in advance (CUDA): x * 2 + 1 (2 kernels, 2 launch
    calls) under the profiler, and one .item() (1 sync) under the sync detector. Tried twice:
    the profiler's first session in a process may start late."""
    from torch.profiler import ProfilerActivity, profile

    x = torch.ones(4096, device=device)
    out: dict[str, Any] = {}
    for _ in range(2):
        _sync(device)
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            y = x * 2 + 1
            _sync(device)
        out = count_events(prof.events(), 1)
        if out["kernels"] >= MIN_CONTROL_KERNELS and out["launches"] >= MIN_CONTROL_KERNELS:
            break
    out["sync_warnings"] = _sync_warnings(lambda: y.sum().item(), 1)
    return out


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
    counts = count_events(prof.events(), steps)
    head = {"n_envs": env.n_envs, "mode": env.stepper.mode, "warmup_s": round(warm_s, 2)}
    if not cuda:
        return dict(head, aten_ops=counts["aten_ops"], kernels=None, launches=None, syncs=None,
                    why_null=f"kernels, launches, syncs: {NO_CUDA}")
    done = [0]

    def one_step() -> None:
        env.step(acts[done[0] % len(acts)])
        done[0] += 1
    warned = _sync_warnings(one_step, steps)
    return dict(head, **vouch(counts, control(device), warned, env.stepper.mode),
                control=control(device))


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
