"""Where a study lives: Optuna's journal file by default, or any RDB URL.

Several GPU hosts can share one study: give every host the same RDB URL and study name,
and start `cappuccino train --study NAME` on each. Recipe (for the README):

    # once, on a database host reachable by every trainer
    createdb cappuccino_studies
    # on each GPU host, in cappuccino.toml (or CAPPUCCINO_STUDY__STORAGE=...):
    [study]
    storage = "postgresql+psycopg2://USER:PASSWORD@dbhost/cappuccino_studies"
    # then on each host (one GPU each):
    cappuccino train --study btc-5m --timeframe 5m --n-trials 50 --gpu 0

    Each host creates or joins the study (load_if_exists=True); TPE's constant liar keeps
    parallel workers from sampling the same point. Each host records its own attempts in
    its local store, and each study driver mirrors the other hosts' trials (state,
    objective, params, progress, host) into it (engine.study.mirror), so every host's
    console sees every trial; model directories go to [paths] models, which should be a
    path every host can read (a shared mount) for promotion from one console. Install the
    database driver (e.g. psycopg2-binary) on every host. The URL may hold a password: keep it in
    the config file or the environment, never on a command line (workers read it from the
    config, it is never passed in argv).

Without [study] storage, the study is `JournalStorage(JournalFileBackend(<store
dir>/optuna/<study>.journal))`: one file per study next to the store, cheap per trial,
safe for several processes on one host.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.config import Config
from engine.files import private_dir


def journal_path(cfg: Config, study: str) -> Path:
    return Path(cfg.store.path).parent / "optuna" / f"{study}.journal"


def storage_label(cfg: Config, study: str) -> str:
    """What the studies table shows (an RDB URL without its password)."""
    if not cfg.study.storage:
        return f"journal:{journal_path(cfg, study)}"
    url = cfg.study.storage
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


class StorageMissing(ValueError):
    """A read of a study from a SQLite storage file that does not exist: a read creates
    nothing (SQLAlchemy would create an empty database, Optuna its tables)."""


def check_readable(url: str) -> None:
    """Raise StorageMissing when `url` is SQLite and names no existing file (or memory)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        u = make_url(url)
    except ArgumentError:
        raise StorageMissing("[study] storage is not a database URL") from None
    if u.get_backend_name() != "sqlite":
        return
    db = u.database or ""
    if db.startswith("file:"):  # a SQLite URI filename (?uri=true)
        db = db[len("file:"):].split("?", 1)[0]
    if db in ("", ":memory:"):
        raise StorageMissing(f"[study] storage {url} is an in-memory database: it holds no "
                             "study to read")
    if not Path(db).is_file():
        raise StorageMissing(f"[study] storage {url}: {Path(db).absolute()} does not exist "
                             "(check the path; a read creates no database)")


def open_storage(cfg: Config, study: str) -> Any:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if cfg.study.storage:
        return _rdb_storage(cfg.study.storage)
    path = journal_path(cfg, study)
    private_dir(path.parent)
    return JournalStorage(JournalFileBackend(str(path)))


def _rdb_storage(url: str, tries: int = 5) -> Any:
    """RDBStorage, retried: hosts starting together on a fresh database race to create
    Optuna's tables, and the loser's CREATE TABLE fails (seen with two PostgreSQL hosts)."""
    import time

    import optuna
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(tries):
        try:
            return optuna.storages.RDBStorage(url)
        except (IntegrityError, ProgrammingError):
            if attempt == tries - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def pruner(cfg: Config) -> Any:
    import optuna

    if not cfg.study.pruning:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)


def open_study(cfg: Config, study: str, *, create: bool = True) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not create and cfg.study.storage:
        check_readable(cfg.study.storage)
    storage = open_storage(cfg, study)
    sampler = optuna.samplers.TPESampler(seed=cfg.study.seed, n_startup_trials=5)
    if create:
        return optuna.create_study(storage=storage, sampler=sampler, pruner=pruner(cfg),
                                   study_name=study, direction="maximize", load_if_exists=True)
    return optuna.load_study(storage=storage, sampler=sampler, pruner=pruner(cfg),
                             study_name=study)


# Optuna has no public way to attach to an existing trial from another process (a trial
# worker reports intermediate values for the trial the study driver asked). These two
# functions are the only users of Optuna's private `_storage`/`_study_id`; the version range
# in pyproject.toml (optuna >=5.0,<6) is the one they were checked against.
def _trial_id(study: Any, number: int) -> int:
    return int(study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number))


def trial_handle(study: Any, number: int) -> Any:
    """An optuna.Trial for an existing trial number (a worker reports through it)."""
    import optuna

    return optuna.trial.Trial(study, _trial_id(study, number))


def frozen_trial(study: Any, number: int) -> Any:
    """The FrozenTrial of an existing trial number, read fresh from the storage."""
    return study._storage.get_trial(_trial_id(study, number))
