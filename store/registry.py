"""The training registry: studies, attempts (one row per try of a trial), checkpoints, models.

Attempt states: RUNNING -> COMPLETE | FAILED | PRUNED | RETRYING. RETRYING means "this try
ended, the trial goes on in the next attempt" (an OOM retry, or a dead worker resumed).

Mirrored attempts (mirrored = 1) are copies of other hosts' trials read from a shared
Optuna storage (engine.study.mirror): one row per trial, attempt 1, upserted as it changes.
They are shown, counted and ranked like local ones, but never resumed by a local driver.
A mirrored COMPLETE trial whose model directory is readable here also gets a `models` row
(upsert_remote_models), so it can be promoted and shows its Sharpe next to EW and HODL.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from store import kv, ledger
from store.db import Store, now
from store.rows import to_row, to_rows

ATTEMPT_STATES = ("RUNNING", "COMPLETE", "FAILED", "PRUNED", "RETRYING")
FINAL_STATES = ("COMPLETE", "FAILED", "PRUNED")


@dataclass(frozen=True)
class StudyRow:
    name: str
    storage: str
    timeframe: str
    n_trials: int
    best_value: float | None
    best_trial: int | None
    pbo: float | None
    created_at: float
    updated_at: float
    evidence: str | None = None  # engine.study.evidence's JSON summary (views.study only)

    @property
    def evidence_dict(self) -> dict[str, Any] | None:
        if not self.evidence:
            return None
        try:
            value = json.loads(self.evidence)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class AttemptRow:
    id: int
    study: str
    trial: int
    attempt: int
    state: str
    error_class: str | None
    error_message: str | None
    params: str
    metrics: str
    objective: float | None
    device: str | None
    peak_mem_mb: float | None
    batch_size: int | None
    progress: float
    checkpoint_path: str | None
    model_path: str | None
    process: str | None
    started_at: float
    heartbeat_at: float | None
    ended_at: float | None
    pid: int | None = None
    host: str | None = None
    mirrored: int = 0

    @property
    def params_dict(self) -> dict[str, Any]:
        return dict(json.loads(self.params or "{}"))

    @property
    def metrics_dict(self) -> dict[str, Any]:
        return dict(json.loads(self.metrics or "{}"))


@dataclass(frozen=True)
class RemoteTrial:
    """Another host's trial as read from the shared study storage (engine.study.mirror)."""

    study: str
    trial: int
    state: str  # an ATTEMPT_STATES value
    host: str
    params: dict[str, Any]
    objective: float | None
    progress: float
    started_at: float
    ended_at: float | None
    device: str | None = None
    error_class: str | None = None
    error_message: str | None = None
    model_path: str | None = None
    metrics: dict[str, Any] | None = None


@dataclass(frozen=True)
class RemoteModel:
    """Another host's trial model (engine.study.mirror); None where the host said nothing."""

    path: str
    study: str
    trial: int
    objective: float | None
    sharpe: float | None = None
    ew_sharpe: float | None = None
    hodl_sharpe: float | None = None
    data_fingerprint: str | None = None
    feature_fingerprint: str | None = None
    created_at: float | None = None


@dataclass(frozen=True)
class CheckpointRow:
    id: int
    study: str
    trial: int
    attempt: int
    step: int
    path: str
    at: float


@dataclass(frozen=True)
class ModelRow:
    path: str
    study: str
    trial: int
    objective: float | None
    sharpe: float | None
    ew_sharpe: float | None
    hodl_sharpe: float | None
    data_fingerprint: str | None
    feature_fingerprint: str | None
    created_at: float


def _json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


# -- identity ------------------------------------------------------------------------------
STORE_ID_KEY = "store.id"


def store_id(store: Store) -> str:
    """This store's id (made once): tells its own trials from other hosts' in a shared study."""
    return kv.put_if_absent(store, STORE_ID_KEY, uuid.uuid4().hex)


# -- studies -------------------------------------------------------------------------------
def upsert_study(store: Store, name: str, storage: str, timeframe: str, n_trials: int) -> None:
    t = now()
    with store.write():
        store.conn.execute(
            "INSERT INTO studies (name, storage, timeframe, n_trials, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET storage=excluded.storage, "
            "timeframe=excluded.timeframe, n_trials=excluded.n_trials, "
            "updated_at=excluded.updated_at", (name, storage, timeframe, n_trials, t, t))


def update_study(store: Store, name: str, **fields: Any) -> None:
    fields["updated_at"] = now()
    cols = ", ".join(f"{k} = ?" for k in fields)
    with store.write():
        store.conn.execute(f"UPDATE studies SET {cols} WHERE name = ?", (*fields.values(), name))


def get_study(store: Store, name: str) -> StudyRow | None:
    return to_row(StudyRow, store.one("SELECT * FROM studies WHERE name = ?", (name,)))


def list_studies(store: Store) -> list[StudyRow]:
    return to_rows(StudyRow, store.query("SELECT * FROM studies ORDER BY updated_at DESC"))


# -- attempts ------------------------------------------------------------------------------
def start_attempt(store: Store, study: str, trial: int, params: dict[str, Any], *,
                  device: str = "", batch_size: int | None = None, process: str = "",
                  pid: int | None = None, host: str = "") -> AttemptRow:
    """Insert the next attempt of a trial (numbered from 1) in state RUNNING."""
    t = now()
    with store.write():
        row = store.conn.execute("SELECT COALESCE(MAX(attempt), 0) FROM attempts "
                                 "WHERE study = ? AND trial = ?", (study, trial)).fetchone()
        n = int(row[0]) + 1
        cur = store.conn.execute(
            "INSERT INTO attempts (study, trial, attempt, state, params, device, batch_size, "
            "process, pid, host, started_at, heartbeat_at) "
            "VALUES (?, ?, ?, 'RUNNING', ?, ?, ?, ?, ?, ?, ?, ?)",
            (study, trial, n, _json(params), device, batch_size, process, pid, host, t, t))
        attempt_id = int(cur.lastrowid or 0)
        ledger.note_attempt(store.conn, study, trial, t)  # counts in N even if deleted later
    got = get_attempt(store, attempt_id)
    assert got is not None
    return got


def update_attempt(store: Store, attempt_id: int, **fields: Any) -> None:
    """Set columns of one attempt; dict values (params, metrics) are stored as JSON."""
    if not fields:
        return
    vals = [(_json(v) if isinstance(v, dict | list) else v) for v in fields.values()]
    cols = ", ".join(f"{k} = ?" for k in fields)
    with store.write():
        store.conn.execute(f"UPDATE attempts SET {cols} WHERE id = ?", (*vals, attempt_id))


def heartbeat_attempt(store: Store, attempt_id: int, progress: float | None = None) -> None:
    if progress is None:
        update_attempt(store, attempt_id, heartbeat_at=now())
    else:
        update_attempt(store, attempt_id, heartbeat_at=now(), progress=max(0.0, min(1.0, progress)))


def end_attempt(store: Store, attempt_id: int, state: str, *, error: BaseException | None = None,
                error_class: str | None = None, error_message: str | None = None,
                **fields: Any) -> None:
    if state not in ATTEMPT_STATES or state == "RUNNING":
        raise ValueError(f"not an end state: {state}")
    if error is not None:
        error_class = error_class or type(error).__name__
        error_message = error_message or str(error)[:2000]
    t = now()
    update_attempt(store, attempt_id, state=state, error_class=error_class,
                   error_message=error_message, ended_at=t, heartbeat_at=t, **fields)


def get_attempt(store: Store, attempt_id: int) -> AttemptRow | None:
    return to_row(AttemptRow, store.one("SELECT * FROM attempts WHERE id = ?", (attempt_id,)))


def list_attempts(store: Store, study: str, trial: int | None = None) -> list[AttemptRow]:
    if trial is None:
        rows = store.query("SELECT * FROM attempts WHERE study = ? ORDER BY trial, attempt",
                           (study,))
    else:
        rows = store.query("SELECT * FROM attempts WHERE study = ? AND trial = ? "
                           "ORDER BY attempt", (study, trial))
    return to_rows(AttemptRow, rows)


def latest_attempt(store: Store, study: str, trial: int) -> AttemptRow | None:
    return to_row(AttemptRow, store.one(
        "SELECT * FROM attempts WHERE study = ? AND trial = ? ORDER BY attempt DESC LIMIT 1",
        (study, trial)))


def count_attempts(store: Store, study: str, trial: int, error_class: str | None = None) -> int:
    if error_class is None:
        row = store.one("SELECT COUNT(*) FROM attempts WHERE study = ? AND trial = ?",
                        (study, trial))
    else:
        row = store.one("SELECT COUNT(*) FROM attempts WHERE study = ? AND trial = ? "
                        "AND error_class = ?", (study, trial, error_class))
    return int(row[0]) if row else 0


def running_attempts(store: Store, study: str | None = None) -> list[AttemptRow]:
    """RUNNING attempts of this store's own workers (not mirrored ones)."""
    if study is None:
        return to_rows(AttemptRow, store.query(
            "SELECT * FROM attempts WHERE state = 'RUNNING' AND mirrored = 0"))
    return to_rows(AttemptRow, store.query(
        "SELECT * FROM attempts WHERE study = ? AND state = 'RUNNING' AND mirrored = 0 "
        "ORDER BY trial", (study,)))


def local_trials(store: Store, study: str) -> set[int]:
    """Trials this store ran itself (it has non-mirrored attempts for them)."""
    rows = store.query("SELECT DISTINCT trial FROM attempts WHERE study = ? AND mirrored = 0",
                       (study,))
    return {int(r[0]) for r in rows}


def upsert_remote_trials(store: Store, trials: list[RemoteTrial]) -> None:
    """Insert or refresh mirrored rows in one transaction; never touches a local attempt."""
    if not trials:
        return
    t = now()
    rows = [(r.study, r.trial, r.state, r.error_class, r.error_message, _json(r.params),
             _json(r.metrics or {}), r.objective, r.device, r.progress, r.model_path,
             f"{r.host}:trial-{r.study}-{r.trial}"[:120], r.host, r.started_at, t, r.ended_at)
            for r in trials]
    with store.large_write():
        store.conn.executemany(
            "INSERT INTO attempts (study, trial, attempt, state, error_class, error_message, "
            "params, metrics, objective, device, progress, model_path, process, host, "
            "started_at, heartbeat_at, ended_at, mirrored) "
            "VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) "
            "ON CONFLICT(study, trial, attempt) DO UPDATE SET state=excluded.state, "
            "error_class=excluded.error_class, error_message=excluded.error_message, "
            "params=excluded.params, metrics=excluded.metrics, objective=excluded.objective, "
            "device=excluded.device, progress=excluded.progress, "
            "model_path=excluded.model_path, process=excluded.process, host=excluded.host, "
            "started_at=excluded.started_at, heartbeat_at=excluded.heartbeat_at, "
            "ended_at=excluded.ended_at WHERE attempts.mirrored = 1", rows)


def complete_attempts(store: Store, study: str) -> list[AttemptRow]:
    return to_rows(AttemptRow, store.query(
        "SELECT * FROM attempts WHERE study = ? AND state = 'COMPLETE' ORDER BY trial", (study,)))


def state_counts(store: Store, study: str) -> dict[str, int]:
    """Trials by the state of their latest attempt."""
    rows = store.query(
        "SELECT a.state, COUNT(*) FROM attempts a JOIN (SELECT trial, MAX(attempt) m FROM "
        "attempts WHERE study = ? GROUP BY trial) l ON a.trial = l.trial AND a.attempt = l.m "
        "WHERE a.study = ? GROUP BY a.state", (study, study))
    return {r[0]: int(r[1]) for r in rows}


# -- checkpoints ---------------------------------------------------------------------------
def add_checkpoint(store: Store, study: str, trial: int, attempt: int, step: int,
                   path: str) -> None:
    with store.write():
        store.conn.execute("INSERT INTO checkpoints (study, trial, attempt, step, path, at) "
                           "VALUES (?, ?, ?, ?, ?, ?)", (study, trial, attempt, step, path, now()))


def list_checkpoints(store: Store, study: str, trial: int) -> list[CheckpointRow]:
    """Newest first."""
    return to_rows(CheckpointRow, store.query(
        "SELECT * FROM checkpoints WHERE study = ? AND trial = ? ORDER BY step DESC, id DESC",
        (study, trial)))


def remove_checkpoints(store: Store, paths: list[str]) -> None:
    if not paths:
        return
    with store.write():
        store.conn.executemany("DELETE FROM checkpoints WHERE path = ?", [(p,) for p in paths])


def finished_checkpoints(store: Store, ended_before: float,
                         limit: int = 1_000_000) -> list[CheckpointRow]:
    """Checkpoints of trials that are over: the trial's latest attempt ended in a final state
    (COMPLETE, FAILED, PRUNED) before `ended_before` (a retry is always a newer attempt).
    Only a resume reads a checkpoint, and a trial whose latest attempt is final is never
    resumed (engine.study.runner)."""
    marks = ",".join("?" * len(FINAL_STATES))
    return to_rows(CheckpointRow, store.query(
        "SELECT c.* FROM checkpoints c JOIN (SELECT study, trial, MAX(attempt) AS attempt "
        "FROM attempts GROUP BY study, trial) m ON m.study = c.study AND m.trial = c.trial "
        "JOIN attempts a ON a.study = m.study AND a.trial = m.trial AND a.attempt = m.attempt "
        f"WHERE a.state IN ({marks}) AND a.ended_at < ? ORDER BY c.id LIMIT ?",
        (*FINAL_STATES, ended_before, limit)))


# -- models --------------------------------------------------------------------------------
def add_model(store: Store, path: str, study: str, trial: int, *, objective: float | None,
              sharpe: float | None, ew_sharpe: float | None, hodl_sharpe: float | None,
              data_fingerprint: str, feature_fingerprint: str) -> None:
    with store.write():
        store.conn.execute(
            "INSERT INTO models (path, study, trial, objective, sharpe, ew_sharpe, hodl_sharpe, "
            "data_fingerprint, feature_fingerprint, created_at) VALUES (?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(path) DO UPDATE SET objective=excluded.objective, "
            "sharpe=excluded.sharpe, ew_sharpe=excluded.ew_sharpe, "
            "hodl_sharpe=excluded.hodl_sharpe, data_fingerprint=excluded.data_fingerprint, "
            "feature_fingerprint=excluded.feature_fingerprint, created_at=excluded.created_at",
            (path, study, trial, objective, sharpe, ew_sharpe, hodl_sharpe, data_fingerprint,
             feature_fingerprint, now()))


def upsert_remote_models(store: Store, models: list[RemoteModel]) -> None:
    """Insert other hosts' models in one transaction; an existing row (this host's own model,
    or one mirrored before) is left as it is: a finished trial's model never changes."""
    if not models:
        return
    t = now()
    rows = [(m.path, m.study, m.trial, m.objective, m.sharpe, m.ew_sharpe, m.hodl_sharpe,
             m.data_fingerprint, m.feature_fingerprint,
             t if m.created_at is None else m.created_at) for m in models]
    with store.large_write():
        store.conn.executemany(
            "INSERT INTO models (path, study, trial, objective, sharpe, ew_sharpe, hodl_sharpe, "
            "data_fingerprint, feature_fingerprint, created_at) VALUES (?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(path) DO NOTHING", rows)


def get_model(store: Store, path: str) -> ModelRow | None:
    return to_row(ModelRow, store.one("SELECT * FROM models WHERE path = ?", (path,)))


def list_models(store: Store, study: str | None = None) -> list[ModelRow]:
    if study is None:
        return to_rows(ModelRow, store.query("SELECT * FROM models ORDER BY created_at"))
    return to_rows(ModelRow, store.query("SELECT * FROM models WHERE study = ? ORDER BY trial",
                                         (study,)))


def newest_model_study(store: Store) -> str | None:
    """The study of the most recently registered model (None: no model yet)."""
    row = store.one("SELECT study FROM models ORDER BY created_at DESC LIMIT 1")
    return None if row is None else str(row["study"])


def best_models(store: Store, study: str, k: int = 1) -> list[ModelRow]:
    return to_rows(ModelRow, store.query(
        "SELECT * FROM models WHERE study = ? AND objective IS NOT NULL "
        "ORDER BY objective DESC LIMIT ?", (study, k)))


# -- study evidence (engine.study.evidence's JSON summary, written by the study driver) ----
EVIDENCE_KEY = "study_evidence:"


def put_study_evidence(store: Store, study: str, summary_json: str) -> None:
    kv.put(store, EVIDENCE_KEY + study, summary_json)


def get_study_evidence(store: Store, study: str) -> dict[str, Any] | None:
    row = store.one("SELECT value FROM kv WHERE key = ?", (EVIDENCE_KEY + study,))
    if row is None:
        return None
    try:
        value = json.loads(row["value"])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
