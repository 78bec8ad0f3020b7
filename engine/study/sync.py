"""`cappuccino study sync`: bring a shared study's other-host trials into this store, once.

A study driver mirrors other hosts' trials on each of its polls (engine.study.mirror), so a
host whose driver has ended misses the trials other hosts finish afterwards. `sync` runs
one mirror poll with no driver: every other host's trial (state, objective, host, params,
its `models` row and its evidence file, engine.study.evidence_share), the overall best,
then the study's evidence (PBO, DSR, gate) recomputed and kept for `status --json` and the
console. Every host that syncs after the last trial ended computes the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.config import Config


@dataclass(frozen=True)
class SyncResult:
    study: str
    mirrored: int              # other hosts' trials written or changed by this poll
    notes: tuple[str, ...]     # what the mirror skipped and why
    best_value: float | None
    best_trial: int | None
    pbo: float | None


class NotShared(ValueError):
    """The study has no shared storage (a journal file is one host's alone)."""


def sync(cfg: Config, study: str) -> SyncResult:
    from engine.runtime import open_store
    from engine.study.mirror import Mirror
    from engine.study.runner import study_pbo
    from engine.study.storage import open_study, storage_label
    from store import registry

    if not cfg.study.storage:
        raise NotShared("[study] storage is not set: a journal-file study has no other "
                        "hosts to sync from")
    optuna_study = open_study(cfg, study, create=False)
    store = open_store(cfg)
    try:
        row = registry.get_study(store, study)
        if row is None:
            registry.upsert_study(store, study, storage_label(cfg, study), cfg.data.timeframe, 0)
        mirror = Mirror(store, study, optuna_study, registry.store_id(store),
                        models=Path(cfg.paths.models))
        changed, best = mirror.poll()
        row = registry.get_study(store, study)
        if best is not None and row is not None and (
                row.best_value is None or best.value > row.best_value):
            registry.update_study(store, study, best_value=best.value, best_trial=best.trial)
        pbo = study_pbo(store, study, cfg)
        registry.update_study(store, study, pbo=pbo)
        row = registry.get_study(store, study)
        assert row is not None
        return SyncResult(study, len(changed), tuple(mirror.notes), row.best_value,
                          row.best_trial, pbo)
    finally:
        store.close()
