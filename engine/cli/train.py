"""`cappuccino train`: run an Optuna study of PPO trials (each trial a worker process).

    cappuccino train --study NAME --timeframe 5m --n-trials 100 [--device auto|cpu|cuda:N]
                     [--gpu N] [--workers N]

Trials run under the supervisor (kind "trial") so the console sees and can kill them;
--direct starts them as children of this command instead (no supervisor needed).
"""

from __future__ import annotations

import argparse

from engine.cli import Subparsers
from engine.cli.errors import JobError, UsageError
from engine.config import Config
from engine.study.request import TIMEFRAMES, TrainArgsError, train_request


def register(sub: Subparsers) -> None:
    p = sub.add_parser("train", help="run an Optuna study of PPO trials",
                       description=__doc__.splitlines()[0])
    p.add_argument("--study", help="study name (default: [study] name)")
    p.add_argument("--timeframe", choices=TIMEFRAMES, help="bar size (default: [data] timeframe)")
    p.add_argument("--n-trials", type=int, help="trials to add (default: [study] n_trials)")
    p.add_argument("--device", metavar="auto|cpu|cuda:N",
                   help="where trials train (default: [runtime] device)")
    p.add_argument("--gpu", metavar="N", help="train on cuda:N (the same as --device cuda:N)")
    p.add_argument("--workers", type=int, help="trials in parallel (default: [study] workers)")
    p.add_argument("--population", metavar="K|auto",
                   help="train K trials at once in this process (one population on one "
                        "device); auto: as many as fit (default: [study] population; 0 off)")
    p.add_argument("--direct", action="store_true",
                   help="start trial workers as children, not under the supervisor")
    p.set_defaults(func=run)


def apply_overrides(cfg: Config, timeframe: str | None = None, device: str | None = None,
                    workers: int | None = None) -> Config:
    """The config a study (and each of its workers) runs with."""
    update: dict[str, object] = {}
    if timeframe:
        update["data"] = cfg.data.model_copy(update={"timeframe": timeframe})
    if device:
        update["runtime"] = cfg.runtime.model_copy(update={"device": device})
    if workers:
        update["study"] = cfg.study.model_copy(update={"workers": workers})
    return cfg.model_copy(update=update) if update else cfg


def parse_population(text: str | None, default: int | str) -> int | str:
    """--population K|auto (K from 0 to 4096), else the config's [study] population."""
    if text is None:
        return default
    if text == "auto":
        return text
    try:
        k = int(text)
    except ValueError:
        k = -1
    if not 0 <= k <= 4096:
        raise UsageError(f"--population must be a number from 0 to 4096 or 'auto' (got {text!r})")
    return k


def run(args: argparse.Namespace, cfg: Config) -> int:
    try:  # the same checks as the console's form and the supervisor's `train` command
        req = train_request(args.study or cfg.study.name, args.timeframe or cfg.data.timeframe,
                            cfg.study.n_trials if args.n_trials is None else args.n_trials,
                            device=args.device, workers=args.workers, gpu=args.gpu)
    except TrainArgsError as e:  # name the flag the operator typed
        field, _, what = str(e).partition(": ")
        raise UsageError(f"train --{field.replace('_', '-')}: {what}") from None
    study, timeframe, n_trials, device = req.study, req.timeframe, req.n_trials, req.device
    population = parse_population(args.population, cfg.study.population)
    cfg = apply_overrides(cfg, timeframe, device, req.workers)
    from engine.device import unusable

    why = unusable(cfg.runtime.device)   # the flag's, else [runtime] device
    if why:
        raise UsageError(f"train: device {why}; use --device cpu or auto")
    from engine.study.objective import prepare_data

    try:  # bad data fails the study up front, not each of its trials
        data = prepare_data(cfg)
    except Exception as e:  # pandas/torch raise many kinds: one line for the operator
        if population == 0:
            raise JobError(f"cannot prepare the study's data: {type(e).__name__}: {e}") from None
        data = None  # the population trainer reports bad data its own way
    if data is not None:
        check_layout(cfg, study, timeframe, data)
    if population != 0:
        from engine.population.cli import run_population

        return run_population(cfg, study, timeframe, n_trials, population)

    from engine.study.runner import run_study

    try:
        row = run_study(cfg, study, timeframe, n_trials, device,
                        "direct" if args.direct else "supervisor",
                        log=lambda m: print(m, flush=True))
    except ImportError as e:
        raise JobError(f"cannot run the study: {e}") from None
    best = "none" if row.best_value is None else f"{row.best_value:.4f} (trial {row.best_trial})"
    pbo = "n/a" if row.pbo is None else f"{row.pbo:.2f}"
    print(f"study {study}: best {best}; PBO {pbo}")
    return 0


def check_layout(cfg: Config, study: str, timeframe: str, data: object) -> None:
    """Refuse (exit 2) to add trials on other data or another CV layout than the study's."""
    from engine.runtime import open_store
    from engine.study.layout import LayoutMismatchError, check_config

    store = open_store(cfg)
    try:
        shared = None
        if cfg.study.storage:  # other hosts' trials are pooled too: their candles must match
            from engine.study.storage import open_study

            shared = open_study(cfg, study)
        check_config(cfg, store, study, timeframe, data, shared)
    except LayoutMismatchError as e:
        raise UsageError(f"train: {e}") from None
    finally:
        store.close()
