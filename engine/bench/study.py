"""Study benchmarks (one trial run in this process with the real storage and registry).

default_trial_s     wall seconds of one trial with the default [ppo]/[study] settings on
                    the bundled real data (7 coins, 5-minute bars), 1 torch thread: CPCV
                    training and evaluation on max_splits splits, the held-out backtest and
                    the model save. --quick runs a reduced trial (16,384 steps, 1 split)
                    and says so in the note.
trial_overhead_pct  time spent on the Optuna journal storage (ask, sample, report, tell)
                    and the store's registry (study row, attempt rows, heartbeats,
                    checkpoint rows, model row, best/PBO update) during that trial, as a
                    percentage of the trial's wall time. Goal <= 1%. The worker's process
                    start (imports) is not storage overhead and is not counted.
"""

from __future__ import annotations

import time
from pathlib import Path

from engine.bench import Result


def run(quick: bool, workdir: Path) -> dict[str, Result]:
    import torch

    from engine.agent.hyperparams import Hyperparams, sample
    from engine.config.schema import Config
    from engine.runtime import open_store
    from engine.study.objective import prepare_data
    from engine.study.runner import study_pbo
    from engine.study.storage import open_study, storage_label
    from engine.study.worker import run_trial
    from store import registry

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    overrides: dict[str, dict[str, object]] = {"store": {"path": str(workdir / "var" / "c.db")},
                       "paths": {"models": str(workdir / "models"), "logs": str(workdir / "logs")},
                       "trials": {"min_free_mb": 10}, "study": {"seed": 1}}
    if quick:
        overrides["ppo"] = {"total_steps": 16_384, "search": False}
        overrides["study"] |= {"max_splits": 1}
    cfg = Config.model_validate(overrides)
    try:
        data = prepare_data(cfg)
        name = "bench"
        t_open = time.perf_counter()  # once per study, amortised over its trials: not counted
        study = open_study(cfg, name)
        store = open_store(cfg)
        registry.upsert_study(store, name, storage_label(cfg, name), "5m", 1)
        t_open = time.perf_counter() - t_open
        t0 = time.perf_counter()
        trial = study.ask()
        if cfg.ppo.search:
            sample(trial, Hyperparams.from_config(cfg.ppo))
        driver = time.perf_counter() - t0
        t_trial = time.perf_counter()
        final = run_trial(cfg, name, trial.number, "cpu", study_obj=study, data=data)
        wall = time.perf_counter() - t_trial
        t1 = time.perf_counter()
        registry.update_study(store, name, best_value=final.objective, best_trial=trial.number,
                              pbo=study_pbo(store, name, cfg))
        store.close()
        driver += time.perf_counter() - t1
        if final.state != "COMPLETE":
            raise RuntimeError(f"bench trial ended {final.state}: {final.error_message}")
        m = final.metrics_dict
        worker = float(m.get("overhead_s", 0.0))
        steps = int(m.get("env_steps", 0))
        what = ("reduced trial: 16,384 steps, 1 split (--quick)" if quick else
                f"default settings: {cfg.study.max_splits} splits × {cfg.ppo.total_steps:,} steps")
        return {
            "default_trial_s": Result(round(wall, 2), "s",
                                      note=f"{what}; bundled data, {steps:,} env steps, CPU, 1 thread"),
            "trial_overhead_pct": Result(round(100 * (worker + driver) / (wall + driver), 3), "%",
                                         note=f"storage+registry {worker + driver:.3f} s "
                                              f"(driver {driver:.3f}, worker {worker:.3f}) of a "
                                              f"{wall:.1f} s trial ({what}); opening the "
                                              f"study once: {t_open:.3f} s, not counted"),
        }
    finally:
        torch.set_num_threads(threads)
