"""Population training against the per-trial path, side by side in one run.

population_samples_per_s      K members × n envs trained as one population (stacked
                              networks, one env of K·n envs), 7 assets, default PPO
                              hyperparameters (64 steps, 4 epochs, minibatch 1024, hidden 64),
                              CPU, 1 thread: aggregate env samples per second of whole PPO
                              updates (collect + update). Baseline: the same K members trained
                              one after another with today's per-trial path (engine.agent.ppo
                              on a SegmentEnv of n envs), same device, same run.
population_speedup_vs_serial  that ratio. Goal on CPU, 1 thread, K = 8, n = 64: >= 1.15.
env_ops_per_step              aten ops dispatched by one PortfolioVecEnv.step (CPU,
                              torch.profiler), 512 envs.
On CUDA (only when available), the same figures with a `_cuda` suffix at K = 256, n = 256
(the serial baseline trains SERIAL_CUDA members and is scaled to K, said in the note), and
env_kernels_per_step / env_host_syncs_per_step: kernel launch calls and host
synchronisations in one vec step of 65,536 envs in the step mode training uses, and the
same for a PopulationVecEnv of 256 members × 256 envs (population_env_*), counted as
engine.bench.env_gpu counts them (a count its controls cannot vouch for is left out, and
the speedup's note says why).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.bench import Result

TICKERS = ("BTC-USD", "ETH-USD", "SOL-USD", "LINK-USD", "LTC-USD", "AVAX-USD", "UNI-USD")
EPISODE = 1024
SERIAL_CUDA = 4


def _data() -> tuple[Any, Any, Any]:
    import torch

    from engine.config.schema import FeaturesSection
    from engine.data.synthetic import synthetic_candles
    from engine.features import compute_features, feature_spec

    candles = synthetic_candles(TICKERS, 4000, "5m", seed=3)
    spec = feature_spec(FeaturesSection(), candles)
    return torch.from_numpy(candles.close), torch.from_numpy(compute_features(candles, spec)), spec


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


@dataclass(frozen=True)
class Rates:
    """Samples per wall second and per CPU second of this process, each side."""

    population: float
    population_cpu: float
    serial: float
    serial_cpu: float
    rounds: tuple[float, ...] = ()   # the speedup of each measured round alone (its spread)
    # The same per CPU-second of this process: a shared machine's descheduling left out.
    rounds_cpu: tuple[float, ...] = ()


def _population(device: str, k: int, n: int) -> tuple[Any, Any]:
    from engine.agent.hyperparams import Hyperparams
    from engine.config.schema import EnvSection
    from engine.population.env import PopulationVecEnv
    from engine.population.members import use_batched_rng
    from engine.population.ppo import PopulationPPO

    prices, feats, spec = _data()
    env = PopulationVecEnv(prices, feats, spec, EnvSection(), n, device, [EPISODE] * k,
                           list(range(k)), [((0, prices.shape[0]),)] * k)
    hp = Hyperparams(n_envs=n)
    agent = PopulationPPO(env.obs_dim, env.act_dim, [hp.with_(lr=3e-4 * (1 + i / k))
                                                      for i in range(k)], list(range(k)), device,
                          batched_rng=use_batched_rng(device, k))   # as the study does
    return env, agent


def _serial(device: str, i: int, k: int, n: int) -> tuple[Any, Any]:
    from engine.agent.hyperparams import Hyperparams
    from engine.agent.ppo import PPO
    from engine.config.schema import EnvSection
    from engine.study.objective import SegmentEnv

    prices, feats, spec = _data()
    env = SegmentEnv(prices, feats, spec, EnvSection(), n, device, EPISODE, i,
                     ((0, prices.shape[0]),))
    hp = Hyperparams(n_envs=n).with_(lr=3e-4 * (1 + i / k))
    return env, PPO(env.obs_dim, env.act_dim, hp, device, seed=i)


def side_by_side(device: str, k: int, n: int, updates: int, serial_k: int | None = None
                 ) -> Rates:
    """The population against the same members trained one at a time (per-trial path),
    interleaved by rounds (one population update, then one update of each serial member)
    so both sides see the same load on a shared machine. serial_k < k: only that many
    serial members run, and their rate stands for all k."""
    pairs = [_population(device, k, n)] + [_serial(device, i, k, n)
                                            for i in range(serial_k or k)]
    obs = [env.reset() for env, _ in pairs]
    wall, cpu = [0.0, 0.0], [0.0, 0.0]
    rounds: list[float] = []
    rounds_cpu: list[float] = []
    for rnd in range(updates + 1):   # round 0 warms up (allocations, kernels)
        this, this_cpu = [0.0, 0.0], [0.0, 0.0]
        for j, (env, agent) in enumerate(pairs):
            _sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            obs[j], _ = agent.learn(env, obs[j])
            _sync(device)
            if rnd:
                side = 0 if j == 0 else 1
                this[side] += time.perf_counter() - t0
                this_cpu[side] += time.process_time() - c0
                wall[side] += time.perf_counter() - t0
                cpu[side] += time.process_time() - c0
        if rnd:   # samples per round: k members on one side, serial_k on the other
            rounds.append(k * this[1] / ((serial_k or k) * max(this[0], 1e-9)))
            rounds_cpu.append(k * this_cpu[1] / ((serial_k or k) * max(this_cpu[0], 1e-9)))
    steps = pairs[0][1].n_steps
    pop_samples = k * n * steps * updates
    ser_samples = (serial_k or k) * n * steps * updates
    return Rates(pop_samples / wall[0], pop_samples / max(cpu[0], 1e-9),
                 ser_samples / wall[1], ser_samples / max(cpu[1], 1e-9), tuple(rounds),
                 tuple(rounds_cpu))


def population_rate(device: str, k: int, n: int, updates: int) -> float:
    """Aggregate samples/s of the population alone (no serial side)."""
    env, agent = _population(device, k, n)
    obs = env.reset()
    obs, _ = agent.learn(env, obs)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(updates):
        obs, _ = agent.learn(env, obs)
    _sync(device)
    return float(k * n * agent.n_steps * updates / (time.perf_counter() - t0))


def _env(device: str, n: int) -> Any:
    from engine.config.schema import EnvSection
    from engine.env.vec_env import PortfolioVecEnv

    prices, feats, spec = _data()
    return PortfolioVecEnv(prices, feats, spec, EnvSection(), n, device, episode_len=EPISODE,
                           seed=1)


def env_ops_per_step(n: int = 512, steps: int = 20) -> float:
    """aten ops per vec step on CPU (steps without an episode reset, like most steps)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    env = _env("cpu", n)
    env.reset()
    act = torch.zeros(n, env.act_dim)
    env.step(act)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            env.step(act)
    ops = [e for e in prof.events() if e.name.startswith("aten::")]
    return len(ops) / steps


def env_cuda_counts(n: int = 65_536, population: int = 0) -> dict[str, Any]:
    """Launch calls and host synchronisations per vec step on cuda:0, in the step mode
    training uses there, as engine.bench.env_gpu counts them: vouched by in-process controls,
    None (with why_null) where the profiler or the sync detector could not be trusted.
    population > 0: a PopulationVecEnv of that many members sharing the n envs."""
    from engine.bench.env_gpu import step_counts

    return step_counts("cuda:0", n, "auto", population=population)


def run(quick: bool, workdir: Path) -> dict[str, Result]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        k, n, updates = 8, 64, 1 if quick else 3
        r = side_by_side("cpu", k, n, updates)
        pop, pop_cpu, ser, ser_cpu = r.population, r.population_cpu, r.serial, r.serial_cpu
        what = (f"K = {k} members × {n} envs, 7 assets, 64 steps, 4 epochs, minibatch 1024, "
                f"hidden 64, CPU, 1 thread, {updates} update(s) each after a warm-up, interleaved by round; per CPU-second "
                f"of this process (less sensitive to a shared machine): {pop_cpu:,.0f} vs "
                f"{ser_cpu:,.0f} samples/s, {pop_cpu / ser_cpu:.3f}x")
        out = {
            "population_samples_per_s": Result(round(pop), "samples/s", baseline=round(ser),
                                               note=f"{what}; baseline: the same members one "
                                               "after another (per-trial path)"),
            "population_speedup_vs_serial": Result(round(pop / ser, 3), "x",
                                                   note=f"{what}; goal >= 1.15"),
            "env_ops_per_step": Result(env_ops_per_step(), "aten ops",
                                       note="one PortfolioVecEnv.step of 512 envs, CPU "
                                       "(torch.profiler; nested aten calls counted)"),
        }
        if torch.cuda.is_available():
            out.update(run_cuda(quick))
        return out
    finally:
        torch.set_num_threads(threads)


def run_cuda(quick: bool) -> dict[str, Result]:
    k, n, updates = (64, 256, 1) if quick else (256, 256, 2)
    r = side_by_side("cuda:0", k, n, updates, serial_k=SERIAL_CUDA)
    pop, ser = r.population, r.serial
    what = f"K = {k} members × {n} envs on cuda:0, default PPO hyperparameters"
    out = {
        "population_samples_per_s_cuda": Result(
            round(pop), "samples/s", baseline=round(ser),
            note=f"{what}; baseline: {SERIAL_CUDA} of the members one after another "
                 "(per-trial path, same GPU), its rate applies to all K"),
        "population_speedup_vs_serial_cuda": Result(round(pop / ser, 2), "x",
                                                    note=f"{what}; goal >= 100"),
    }
    unmeasured: list[str] = []
    for prefix, counts, where in (
            ("env", env_cuda_counts(), "one vec step of 65,536 envs"),
            ("population_env", env_cuda_counts(population=256),
             "one step of a PopulationVecEnv, 256 members × 256 envs")):
        mode = f"{counts['mode']} step"
        for key, figure, unit, goal in (("launches", "kernels_per_step", "launches", "<= 12"),
                                        ("syncs", "host_syncs_per_step", "syncs", "0")):
            if counts[key] is None:   # never a 0 the profiler could not vouch for
                unmeasured.append(f"{prefix}_{figure}: {counts.get('why_null')}")
                continue
            out[f"{prefix}_{figure}"] = Result(counts[key], unit,
                                               note=f"{where}, {mode} (goal {goal})")
    if unmeasured:   # said where the figures would be, since a Result needs a value
        speed = out["population_speedup_vs_serial_cuda"]
        out["population_speedup_vs_serial_cuda"] = Result(
            speed.value, speed.unit, note=f"{speed.note}; not measured: {'; '.join(unmeasured)}")
    return out
