"""Telling Optuna a trial's outcome, so that no trial stays RUNNING in the study storage.

The store's attempts are the record of what happened; Optuna's trial state follows them.
A `tell` can fail on a storage error (a locked SQLite file, a PostgreSQL connection
dropped): it is retried a few times and each distinct error is logged once. Where it still
fails, the trial stays RUNNING in Optuna until `retell_finished` (run by the study drivers
after each trial and at start) tells it again from the store's final attempt. A trial that
Optuna already has finished (another host or the driver told it) is skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from typing import Any

from engine.log_once import OnceLog
from store import registry
from store.db import Store

log = logging.getLogger("cappuccino.study")
TELL_TRIES = 3
TELL_WAIT_S = 1.0
FAILED_TELLS = OnceLog(log, "telling Optuna a trial's outcome")


def tell(study_obj: Any, trial: int, state: str, value: float | None, *,
         tries: int = TELL_TRIES, wait_s: float = TELL_WAIT_S,
         sleep: Callable[[float], None] = time.sleep) -> bool:
    """Tell Optuna trial `trial` ended in `state` (COMPLETE with `value`, PRUNED, FAILED).

    True once Optuna has the outcome (now or before); False when every try failed (logged).
    """
    import optuna

    if study_obj is None:
        return True
    target = {"COMPLETE": optuna.trial.TrialState.COMPLETE,
              "PRUNED": optuna.trial.TrialState.PRUNED,
              "FAILED": optuna.trial.TrialState.FAIL}[state]
    for n in range(1, tries + 1):
        try:
            if target == optuna.trial.TrialState.COMPLETE:
                study_obj.tell(trial, value, skip_if_finished=True)
            else:
                study_obj.tell(trial, state=target, skip_if_finished=True)
            return True
        except Exception as e:  # a storage error: retried, then left to retell_finished
            FAILED_TELLS.error(e, f"trial {trial} {state}, try {n} of {tries}")
        if n < tries:
            sleep(wait_s)
    return False


def retell_finished(study_obj: Any, store: Store, study: str,
                    only: Collection[int] | None = None, **kw: Any) -> list[int]:
    """Tell Optuna again every trial it still has RUNNING whose latest attempt here is final
    (its worker's own tell failed). Returns the trials told now.

    only: just these trials. Call it for trials whose worker has exited: a live worker may be
    between recording its attempt and telling Optuna.
    """
    import optuna

    told = []
    for t in study_obj.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if only is not None and t.number not in only:
            continue
        last = registry.latest_attempt(store, study, t.number)
        if last is None or last.mirrored or last.state not in registry.FINAL_STATES:
            continue
        if tell(study_obj, t.number, last.state, last.objective, **kw):
            log.warning("trial %d: told Optuna %s again (an earlier tell had failed)",
                        t.number, last.state)
            told.append(t.number)
    return told
