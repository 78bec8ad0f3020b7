"""`cappuccino train ... --population K|auto`: the study's trials as populations, in process."""

from __future__ import annotations

from engine.cli.errors import JobError
from engine.config import Config


def run_population(cfg: Config, study: str, timeframe: str, n_trials: int,
                   population: int | str) -> int:
    from engine.agent.hyperparams import Hyperparams
    from engine.device import setup_torch
    from engine.features import obs_dim
    from engine.population.members import members_per_trial
    from engine.population.sizing import plan
    from engine.population.study import run_population_study
    from engine.study.objective import prepare_data, select_splits

    device = setup_torch(cfg)
    try:  # bad data fails the study up front, not each of its trials
        data = prepare_data(cfg)
    except Exception as e:  # pandas/torch raise many kinds: one line for the operator
        raise JobError(f"cannot prepare the study's data: {type(e).__name__}: {e}") from None
    if population == "auto":
        hp = Hyperparams.from_config(cfg.ppo)
        per_trial = members_per_trial(len(select_splits(cfg, data)), cfg.study.seeds)
        p = plan(device, hp, obs_dim(data.spec, data.prices.shape[1]),
                 int(data.prices.shape[1]), per_trial)
        if p.n_envs != cfg.ppo.n_envs:
            cfg = cfg.model_copy(update={"ppo": cfg.ppo.model_copy(update={"n_envs": p.n_envs})})
        print(f"population: {p.trials} trials, {p.n_envs} envs per member ({p.why})", flush=True)
        population = p.trials
    row = run_population_study(cfg, study, timeframe, n_trials, int(population), device,
                               log=lambda m: print(m, flush=True))
    best = "none" if row.best_value is None else f"{row.best_value:.4f} (trial {row.best_trial})"
    pbo = "n/a" if row.pbo is None else f"{row.pbo:.2f}"
    print(f"study {study}: best {best}; PBO {pbo}")
    return 0
