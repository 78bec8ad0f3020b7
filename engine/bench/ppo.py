"""PPO benchmark.

ppo_samples_per_s       one full PPO iteration (collect 1024 envs × 64 steps on the
                        portfolio env, 7 assets, then the update: 4 epochs, minibatch 4096),
                        hidden 64, 1 torch thread, CPU: env samples per second of the whole
                        iteration. Goal >= 30,000.
ppo_samples_per_s_cuda  the same on cuda:0 (only when CUDA is available).
--quick uses 256 envs (said in the note).
"""

from __future__ import annotations

import time
from pathlib import Path

from engine.bench import Result

TICKERS = ("BTC-USD", "ETH-USD", "SOL-USD", "LINK-USD", "LTC-USD", "AVAX-USD", "UNI-USD")


def _rate(device: str, n_envs: int, n_steps: int) -> tuple[float, float]:
    """(samples per wall second, samples per CPU second of this process)."""
    import torch

    from engine.agent.hyperparams import Hyperparams
    from engine.agent.ppo import PPO
    from engine.config.schema import EnvSection, FeaturesSection
    from engine.data.synthetic import synthetic_candles
    from engine.env.vec_env import PortfolioVecEnv
    from engine.features import compute_features, feature_spec

    candles = synthetic_candles(TICKERS, 4000, "5m", seed=3)
    spec = feature_spec(FeaturesSection(), candles)
    feats = torch.from_numpy(compute_features(candles, spec))
    env = PortfolioVecEnv(torch.from_numpy(candles.close), feats, spec, EnvSection(), n_envs,
                          device=device, episode_len=1024, seed=1)
    hp = Hyperparams(n_envs=n_envs, n_steps=n_steps, hidden=64, epochs=4, minibatch=4096)
    agent = PPO(env.obs_dim, env.act_dim, hp, device=device, seed=0)
    obs = env.reset()
    obs, _ = agent.learn(env, obs)  # warm-up (allocations, kernels)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0, c0 = time.perf_counter(), time.process_time()
    obs, _ = agent.learn(env, obs)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    n = n_envs * n_steps
    return n / (time.perf_counter() - t0), n / max(time.process_time() - c0, 1e-9)


def run(quick: bool, workdir: Path) -> dict[str, Result]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        n_envs = 256 if quick else 1024
        wall, cpu = _rate("cpu", n_envs, 64)
        out = {"ppo_samples_per_s": Result(
            round(wall), "samples/s",
            note=f"{n_envs} envs × 64 steps{' (--quick; full: 1024)' if quick else ''}, 7 assets, hidden 64, 4 epochs, minibatch 4096, "
                 f"1 thread, CPU; collect + update; per CPU-second of this process: "
                 f"{cpu:,.0f} (what an unshared core would give)")}
        if torch.cuda.is_available():
            out["ppo_samples_per_s_cuda"] = Result(round(_rate("cuda:0", n_envs, 64)[0]),
                                                   "samples/s", note="same on cuda:0")
        return out
    finally:
        torch.set_num_threads(threads)
