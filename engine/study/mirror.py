"""Other hosts' trials, copied from the shared study storage into this store's `attempts`.

Several hosts can share one study through an RDB URL (engine.study.storage). Each host's
store only holds the attempts its own workers ran, and the console (which never imports
optuna) reads only its store. So the study driver calls `Mirror.poll()` on each of its polls:
it reads the study's trials (Optuna's cached storage reads only unfinished and new trials),
skips the ones this store runs, and upserts the others (mirrored = 1, one row per trial)
when they changed since the last poll.

Whose trial is it: the trial's user attrs, written through the study storage:
    store  the id of the store whose driver asked the trial (registry.store_id)
    host   the host of the worker running it (set when the worker starts)
    device, progress (at each checkpoint), error {"class", "message"}, model_path,
    split_scores (set before the trial's final state is told)
    evidence (set before the final state is told): the trial's evidence file, which the
        mirror writes under this host's [paths] models (engine.study.evidence_share), so
        the PBO and DSR span every host's trials with or without a shared models path
    model_metrics {"sharpe", "ew_sharpe", "hodl_sharpe", "data_fingerprint",
        "feature_fingerprint"}: the worker's `models` row, set with model_path
A trial without a store attr (asked by an older driver) is ours when this store has
attempts for it; otherwise it is shown with host "remote" until its worker names a host.

A COMPLETE trial with a model_path also gets a `models` row here, so it can be promoted
and shows its Sharpe next to EW and HODL. The path is where the other host wrote it:
`[paths] models` must be a folder shared between hosts. The row is made only once the
model is complete at that path on this host (its spec.json, written last, is there), and
holds only what the other host recorded (a missing metric stays NULL).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.log_once import OnceLog
from engine.study import evidence_share as share
from store import registry
from store.db import Store, now

log = logging.getLogger("cappuccino.study")
ATTR_FAILURES = OnceLog(log, "publishing a trial's attributes for other hosts")

ATTR_STORE = "store"
ATTR_HOST = "host"
ATTR_DEVICE = "device"
ATTR_PROGRESS = "progress"
ATTR_ERROR = "error"
ATTR_MODEL = "model_path"
ATTR_SCORES = "split_scores"
ATTR_MODEL_METRICS = "model_metrics"
MODEL_METRICS = ("sharpe", "ew_sharpe", "hodl_sharpe")
MODEL_FINGERPRINTS = ("data_fingerprint", "feature_fingerprint")
MODEL_COMPLETE_FILE = "spec.json"  # engine.model.artifact writes it last
UNKNOWN_HOST = "remote"
MAX_NAME = 64     # a host, device or error class from another machine, cut to this
MAX_TEXT = 2000   # an error message or a model path


def set_attrs(trial: Any, **attrs: Any) -> None:
    """Best effort: a trial already finished (or a storage hiccup) must not fail the caller.

    A storage error is logged (once per distinct error); the attributes only inform other
    hosts' mirrors, so the trial goes on without them.
    """
    from optuna.exceptions import UpdateFinishedTrialError

    for key, value in attrs.items():
        if value is None:
            continue
        try:
            trial.set_user_attr(key, value)
        except UpdateFinishedTrialError:
            return  # told already (by the worker or another host): nothing more to publish
        except Exception as e:  # a storage hiccup: said once, the caller carries on
            ATTR_FAILURES.error(e, f"trial {getattr(trial, 'number', '?')} {key}")


@dataclass(frozen=True)
class Best:
    value: float
    trial: int
    host: str


@dataclass
class Mirror:
    store: Store
    study: str
    optuna_study: Any
    own_id: str
    seen: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)  # finished and handled: they never change
    # COMPLETE trials whose model is not (yet) at its path here: retried on every poll
    waiting: dict[int, registry.RemoteModel] = field(default_factory=dict)
    # [paths] models: where other hosts' evidence files are written (None: not written)
    models: Path | None = None
    notes: list[str] = field(default_factory=list)  # what the driver should log, then clear

    def poll(self) -> tuple[list[registry.RemoteTrial], Best | None]:
        """Upsert other hosts' new or changed trials; returns them and the best among them."""
        import optuna

        TS = optuna.trial.TrialState
        trials = self.optuna_study.get_trials(deepcopy=False)
        local: set[int] | None = None
        changed: list[registry.RemoteTrial] = []
        best: Best | None = None
        for t in trials:
            if t.number in self.done or t.state == TS.WAITING:
                continue  # handled for good; or enqueued, not running anywhere yet
            if t.state.is_finished():
                self.done.add(t.number)
            attrs = t.user_attrs
            owner = attrs.get(ATTR_STORE)
            if owner == self.own_id:
                continue
            sig = (t.state, t.value, len(t.intermediate_values),
                   repr(sorted((k, v) for k, v in attrs.items() if k != share.ATTR_EVIDENCE)))
            if self.seen.get(t.number) == sig:
                continue
            if owner is None:
                if local is None:
                    local = registry.local_trials(self.store, self.study)
                if t.number in local:
                    self.seen[t.number] = sig
                    continue
            self.seen[t.number] = sig
            if t.state.is_finished():
                self._evidence(t.number, attrs.get(share.ATTR_EVIDENCE))
            row = remote_trial(self.study, t, TS)
            changed.append(row)
            model = remote_model(self.study, t, TS)
            if model is not None:
                self.waiting[t.number] = model
            if row.state == "COMPLETE" and row.objective is not None and (
                    best is None or row.objective > best.value):
                best = Best(row.objective, row.trial, row.host)
        registry.upsert_remote_trials(self.store, changed)
        self._add_models()
        return changed, best

    def _evidence(self, trial: int, attr: Any) -> None:
        """Write another host's evidence file where this host's study evidence reads it."""
        if self.models is None or attr is None:
            return
        try:
            share.write(self.models / self.study / f"trial-{trial}", attr)
        except (share.BadEvidence, OSError) as e:
            self.notes.append(f"trial {trial}: evidence from the study storage skipped: {e}")

    def _add_models(self) -> None:
        ready = [n for n, m in self.waiting.items() if model_ready(m.path)]
        registry.upsert_remote_models(self.store, [self.waiting[n] for n in ready])
        for n in ready:
            del self.waiting[n]


def model_attrs(store: Store, path: str) -> dict[str, Any] | None:
    """What the worker publishes of its trial's `models` row, for other hosts' mirrors."""
    row = registry.get_model(store, path)
    if row is None:
        return None
    return {k: getattr(row, k) for k in (*MODEL_METRICS, *MODEL_FINGERPRINTS)}


def model_ready(path: str) -> bool:
    """Whether the model directory is complete at this path on this host."""
    try:
        return (Path(path) / MODEL_COMPLETE_FILE).is_file()
    except OSError:
        return False


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _text(value: Any, limit: int | None = None) -> str | None:
    """A string attr as a claim: None unless a non-empty string; with `limit`, cut to it and
    its control characters dropped (it is shown on terminals and consoles)."""
    if not isinstance(value, str) or not value:
        return None
    if limit is None:
        return value
    return _CONTROL.sub("", value)[:limit] or None


def _path(value: Any) -> str | None:
    """A model path as it was written, or None when it is not a plain path (too long,
    control characters): cutting or cleaning a path would point somewhere else."""
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        return None
    return None if _CONTROL.search(value) else value


def _scores(value: Any) -> list[float] | None:
    """Split scores: a list of finite numbers, else nothing."""
    if not isinstance(value, list):
        return None
    out = [_number(v) for v in value]
    return None if any(v is None for v in out) else [float(v) for v in out if v is not None]


def remote_model(study: str, t: Any, TS: Any) -> registry.RemoteModel | None:
    """The `models` row of another host's COMPLETE trial; None without a model path."""
    path = _path(t.user_attrs.get(ATTR_MODEL))
    if t.state != TS.COMPLETE or path is None:
        return None
    info = t.user_attrs.get(ATTR_MODEL_METRICS)
    info = info if isinstance(info, dict) else {}
    return registry.RemoteModel(
        path=path, study=study, trial=int(t.number), objective=_number(t.value),
        sharpe=_number(info.get("sharpe")), ew_sharpe=_number(info.get("ew_sharpe")),
        hodl_sharpe=_number(info.get("hodl_sharpe")),
        data_fingerprint=_text(info.get("data_fingerprint"), MAX_NAME),
        feature_fingerprint=_text(info.get("feature_fingerprint"), MAX_NAME),
        created_at=t.datetime_complete.timestamp() if t.datetime_complete else None)


def remote_trial(study: str, t: Any, TS: Any) -> registry.RemoteTrial:
    """One Optuna FrozenTrial as a mirrored attempt."""
    attrs = t.user_attrs
    # Every attr was written by another machine: each is checked for type and size here.
    host = _text(attrs.get(ATTR_HOST), MAX_NAME) or UNKNOWN_HOST
    state = {TS.COMPLETE: "COMPLETE", TS.PRUNED: "PRUNED", TS.FAIL: "FAILED"}.get(t.state,
                                                                                "RUNNING")
    steps = sorted(t.intermediate_values)
    objective = None
    if state == "COMPLETE":
        objective = t.value
    elif state == "PRUNED" and steps:
        objective = t.intermediate_values[steps[-1]]
    progress = 1.0 if state == "COMPLETE" else (_number(attrs.get(ATTR_PROGRESS)) or 0.0)
    error_class = error_message = None
    if state == "FAILED":
        err = attrs.get(ATTR_ERROR)
        err = err if isinstance(err, dict) else {}
        error_class = _text(err.get("class"), MAX_NAME)
        error_message = _text(err.get("message"), MAX_TEXT) or (
            f"failed on {host} (no reason in the study storage)")
    elif state == "PRUNED":
        error_message = f"pruned on {host} after split {steps[-1]}" if steps else "pruned"
    scores = _scores(attrs.get(ATTR_SCORES))
    return registry.RemoteTrial(
        study=study, trial=int(t.number), state=state, host=host, params=dict(t.params),
        objective=None if objective is None else float(objective),
        progress=max(0.0, min(1.0, progress)),
        started_at=t.datetime_start.timestamp() if t.datetime_start else now(),
        ended_at=t.datetime_complete.timestamp() if t.datetime_complete else None,
        device=_text(attrs.get(ATTR_DEVICE), MAX_NAME), error_class=error_class,
        error_message=error_message, model_path=_path(attrs.get(ATTR_MODEL)),
        metrics={ATTR_SCORES: scores} if scores is not None else None)
