"""Env benchmarks: batched torch env throughput, and its speed-up over a FinRL-style loop.

env_steps_per_s       N=1024 envs × 7 assets, 1 torch thread, CPU; env-steps per second
                      (one vec step = N env-steps), random actions, auto-resets included.
env_speedup_vs_loop   the same semantics stepped as 1024 per-env numpy objects in a Python
                      loop (engine.env.loop_baseline), measured in this run: value = vec
                      env-steps/s, baseline = loop env-steps/s.
env_steps_per_s_cuda  (only when CUDA is available) the same vec env on cuda:0.
env_compiled_kernels_per_step  (not with --quick) the kernels torch.compile (inductor) makes
                      of one vec step, 512 envs, counted in its generated code: on CPU the
                      C++ twin of what triton builds on CUDA (the goal there is <= 12);
                      skipped, saying why, where no compiler is found.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.bench import Result

if TYPE_CHECKING:
    import numpy as np

    from engine.config.schema import EnvSection
    from engine.data.candles import Candles
    from engine.features import FeatureSpec

    Setup = tuple[Candles, FeatureSpec, np.ndarray, EnvSection]

N_ENVS = 1024
REPEATS = 3
TICKERS = ("BTC-USD", "ETH-USD", "SOL-USD", "LINK-USD", "LTC-USD", "AVAX-USD", "UNI-USD")


@dataclass(frozen=True)
class Rates:
    wall: float   # env-steps per wall-clock second (the figure)
    cpu: float    # env-steps per CPU second of this process (shows what host load hides)

    @staticmethod
    def of(n: int, wall_start: float, cpu_start: float) -> Rates:
        wall = time.perf_counter() - wall_start
        cpu = max(time.process_time() - cpu_start, 1e-9)
        return Rates(n / wall, n / cpu)

    def max(self, other: Rates) -> Rates:
        return Rates(max(self.wall, other.wall), max(self.cpu, other.cpu))


def _setup(n_bars: int) -> Setup:
    from engine.config.schema import EnvSection, FeaturesSection
    from engine.data.synthetic import synthetic_candles
    from engine.features import compute_features, feature_spec

    candles = synthetic_candles(TICKERS, n_bars, "5m", seed=11)
    spec = feature_spec(FeaturesSection(), candles)
    # The loop baseline steps FinRL's way (delta mapping, no delay): both measured so.
    env = EnvSection(action_mapping="delta", execution_delay=False)
    return candles, spec, compute_features(candles, spec), env


def _vec_rate(candles: Candles, spec: FeatureSpec, feats: np.ndarray, env_cfg: EnvSection,
              device: str, steps: int) -> Rates:
    import torch

    from engine.env.vec_env import PortfolioVecEnv

    env = PortfolioVecEnv(torch.from_numpy(candles.close), torch.from_numpy(feats), spec,
                          env_cfg, N_ENVS, device=device, episode_len=512, seed=1)
    gen = torch.Generator(device=device).manual_seed(0)
    actions = [torch.rand(N_ENVS, len(TICKERS), generator=gen, device=device) * 2 - 1
               for _ in range(16)]
    env.reset()
    for i in range(10):
        env.step(actions[i % 16])
    best = Rates(0.0, 0.0)
    for _block in range(REPEATS):  # best of a few blocks: the host is shared and noisy
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(steps):
            env.step(actions[i % 16])
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = best.max(Rates.of(steps * N_ENVS, start, cpu))
    return best


def _loop_rate(candles: Candles, spec: FeatureSpec, feats: np.ndarray, env_cfg: EnvSection,
               steps: int) -> Rates:
    import numpy as np

    from engine.env.loop_baseline import LoopVecEnv

    env = LoopVecEnv(candles.close, feats, spec, env_cfg, N_ENVS, episode_len=512, seed=1)
    rng = np.random.default_rng(0)
    actions = [rng.uniform(-1, 1, (N_ENVS, len(TICKERS))) for _ in range(4)]
    env.reset()
    env.step(actions[0])
    best = Rates(0.0, 0.0)
    for _block in range(REPEATS):
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(steps):
            env.step(actions[i % 4])
        best = best.max(Rates.of(steps * N_ENVS, start, cpu))
    return best


def run(quick: bool, workdir: Path) -> dict[str, Result]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        candles, spec, feats, env_cfg = _setup(2_000 if quick else 5_000)
        vec = _vec_rate(candles, spec, feats, env_cfg, "cpu", 50 if quick else 300)
        loop = _loop_rate(candles, spec, feats, env_cfg, 1 if quick else 3)
        out = {
            "env_steps_per_s": Result(
                vec.wall, "env-steps/s",
                note=f"N={N_ENVS}, 7 assets, 1 torch thread, cpu; per CPU-second "
                     f"{vec.cpu:.3g}"),
            "env_speedup_vs_loop": Result(
                vec.wall, "env-steps/s", baseline=loop.wall,
                note=f"baseline: FinRL-style per-env numpy loop; CPU-time ratio "
                     f"{vec.cpu / loop.cpu:.3g}"),
        }
        if not quick:
            out.update(_compiled_kernels())
        if torch.cuda.is_available():
            cuda = _vec_rate(candles, spec, feats, env_cfg, "cuda:0", 100 if quick else 600)
            out["env_steps_per_s_cuda"] = Result(cuda.wall, "env-steps/s",
                                                 note=f"N={N_ENVS}, 7 assets, cuda:0")
        return out
    finally:
        torch.set_num_threads(threads)


def _compiled_kernels() -> dict[str, Result]:
    from engine.bench.env_gpu import compiled_kernels

    try:
        k = compiled_kernels("cpu")
    except Exception as e:   # no C++ compiler, or inductor cannot build here: say so
        print(f"bench env: env_compiled_kernels_per_step skipped ({type(e).__name__}: {e})",
              file=sys.stderr)
        return {}
    return {"env_compiled_kernels_per_step": Result(
        k["kernels"], "kernels",
        note=f"torch.compile (inductor, CPU) of one vec step of 512 envs: {k['fused_kernels']} "
             f"fused + {k['library_calls']} library kernel(s), compiled in {k['compile_s']} s, "
             f"largest difference from eager {k['max_abs_diff_from_eager']:.2g}")}
