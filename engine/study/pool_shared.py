"""The shared Optuna storage's trials on a study's data, written to the trial ledger.

Hosts that share an RDB storage ([study] storage) may run other studies on the same candles;
this store sees their trials only once mirrored (engine.study.mirror, `study sync`). The
study driver and `study sync` (which have Optuna) list every study in the storage whose
layout (engine.study.layout.ATTR) has this study's data and write its trials to the ledger
with created = engine.study.pool.SHARED, so the deflated Sharpe ratio counts them
(engine.study.pool) wherever it is computed, the console included, without Optuna. A
storage that cannot be read leaves a note, and the gate refuses until it can be counted.
"""

from __future__ import annotations

import json
from typing import Any

from engine.config import Config
from engine.study.layout import ATTR
from engine.study.pool import SHARED


def shared_trials(storage: Any, data: str) -> dict[str, list[int]]:
    """{study: trial numbers} of every study in the storage whose layout has this data."""
    import optuna

    from store.ledger import data_key

    out: dict[str, list[int]] = {}
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        attr = summary.user_attrs.get(ATTR)
        if isinstance(attr, str):
            try:
                attr = json.loads(attr)
            except ValueError:
                continue
        if data_key(attr) != data:
            continue
        sid = storage.get_study_id_from_name(summary.study_name)
        out[summary.study_name] = [t.number for t in storage.get_all_trials(sid, deepcopy=False)]
    return out


def record_shared(cfg: Config, store: Any, study: str) -> None:
    """Write the shared storage's trials on `study`'s data to the ledger (module doc)."""
    from engine.study.storage import open_storage
    from store import ledger

    data = ledger.study_data_keys(store).get(study)
    if not cfg.study.storage or data is None:
        return
    try:
        found = shared_trials(open_storage(cfg, study), data)
    except Exception as e:  # the RDB does not answer: N may be short, so say it and refuse
        ledger.set_note(store, data, "shared storage not counted: "
                        f"{type(e).__name__}: {str(e)[:160]}")
        return
    for name, numbers in found.items():
        ledger.record(store, data, name, SHARED, [(n, None) for n in numbers])
    ledger.set_note(store, data, None)
