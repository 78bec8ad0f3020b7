"""The trial worker: runs one Optuna trial in its own (supervised) process.

`cappuccino worker --study S --trial N` loads the trial's sampled hyperparameters from
the study storage, and then runs attempts until the trial ends:

- each attempt is a row in `attempts` (RUNNING, then COMPLETE / FAILED / PRUNED, or
  RETRYING when the trial goes on in a next attempt), with a heartbeat thread writing
  heartbeat_at and progress;
- every attempt resumes from the newest readable checkpoint; a corrupt one is skipped
  (recorded in the attempt's metrics) and the previous one is used, else a fresh start;
- torch.cuda.OutOfMemoryError (also raised on CPU) -> RETRYING, wait retry_wait_s, halve
  the minibatch, next attempt; after max_oom_retries: FAILED;
- a NaN loss, the time limit, too little disk, any other error -> FAILED with its class
  and message; the study goes on;
- when it starts, the worker marks earlier RUNNING attempts of its trial whose process is
  gone as RETRYING (WorkerDied) and resumes; past max_crash_retries the trial FAILS.

The worker tells Optuna the trial's final state itself, so a trial ends properly even
when the study driver is gone. Exit status 0 whenever the outcome was recorded.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.agent.hyperparams import Hyperparams, from_trial_params
from engine.config import Config
from engine.device import setup_torch
from engine.log_once import OnceLog
from engine.runtime import Heartbeat, StoreBeat, open_store, process_name
from engine.study import checkpoint as ckpt
from engine.study import evidence_share as share
from engine.study import faults as faultmod
from engine.study import mirror as mirrormod
from engine.study.tell import tell
from store import registry
from store.db import Store, StoreError, ensure_free_space, free_mb

log = logging.getLogger("cappuccino.study")

DIED = "WorkerDied"
OOM = "OutOfMemoryError"


def trial_dir(cfg: Config, study: str, trial: int) -> Path:
    return Path(cfg.paths.models) / study / f"trial-{trial}"


def shared_evidence(cfg: Config, study: str, trial: int) -> Path | None:
    """The folder whose evidence file `finish` publishes: only a shared (RDB) storage has
    other hosts to read it; a journal file is this host's alone."""
    return trial_dir(cfg, study, trial) if cfg.study.storage else None


def pid_alive(pid: int | None) -> bool:
    import psutil

    if not pid:
        return False
    try:
        p = psutil.Process(pid)
        return bool(p.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:  # gone, or not ours to look at: not a live worker of ours
        return False


def peak_mem_mb(device: str) -> float:
    if device.startswith("cuda"):
        import torch

        return float(torch.cuda.max_memory_allocated(device)) / 1e6
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


class Overhead:
    """Seconds spent on storage and registry calls (benchmarked as trial_overhead_pct)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def timed(self) -> Any:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.seconds += time.perf_counter() - t0


class AttemptBeat(StoreBeat):
    """Writes the attempt's heartbeat and progress from a thread (own store connection)."""

    def __init__(self, cfg: Config, attempt_id: int, overhead: Overhead) -> None:
        super().__init__(cfg, "attempt-beat")
        self.attempt_id, self.overhead = attempt_id, overhead
        self.progress = 0.0
        self.failures = OnceLog(log, f"heartbeat of attempt {attempt_id}")

    def beat(self, store: Store) -> None:
        # a busy or full store must not stop training; a failing beat is still said
        with self.failures.logged(), self.overhead.timed():
            registry.heartbeat_attempt(store, self.attempt_id, self.progress)


def check_space(cfg: Config, path: Path, what: str, faults: faultmod.Faults) -> None:
    if faults.free_mb is not None:
        if faults.free_mb < cfg.trials.min_free_mb:
            raise StoreError(f"{path}: only {faults.free_mb:.0f} MB free, "
                             f"{cfg.trials.min_free_mb} MB needed to {what}")
        return
    ensure_free_space(path, cfg.trials.min_free_mb, what)


@dataclass
class WorkerHooks:
    """Plugs checkpoints, progress, pruning and faults into a TrialRunner."""

    cfg: Config
    store: Store
    study: str
    trial: int
    attempt: registry.AttemptRow
    ckpt_dir: Path
    beat: AttemptBeat
    optuna_trial: Any
    faults: faultmod.Faults
    overhead: Overhead

    def on_update(self, runner: Any) -> None:
        u = runner.global_updates
        self.beat.progress = runner.progress
        f = self.faults
        if u % self.cfg.trials.checkpoint_every == 0 or u == runner.total_updates:
            self.save_checkpoint(runner)
            if f.corrupt_ckpt_at_update == u:
                path = ckpt.checkpoint_path(self.ckpt_dir, u)
                blob = bytearray(path.read_bytes())
                blob[len(blob) // 2:len(blob) // 2 + 64] = os.urandom(64)
                path.write_bytes(bytes(blob))
                os.kill(os.getpid(), signal.SIGKILL)
        if f.sigkill_at_update == u:
            os.kill(os.getpid(), signal.SIGKILL)

    def save_checkpoint(self, runner: Any) -> None:
        check_space(self.cfg, self.ckpt_dir, "write a checkpoint", self.faults)
        path = ckpt.save(self.ckpt_dir, runner.global_updates, runner.state())
        gone = ckpt.prune(self.ckpt_dir, self.cfg.trials.keep_checkpoints)
        with self.overhead.timed():
            registry.add_checkpoint(self.store, self.study, self.trial, self.attempt.attempt,
                                    runner.global_updates, str(path))
            registry.remove_checkpoints(self.store, [str(p) for p in gone])
            registry.update_attempt(self.store, self.attempt.id, checkpoint_path=str(path),
                                    progress=runner.progress, heartbeat_at=time.time())
            if self.optuna_trial is not None and self.cfg.study.storage:  # other hosts show it
                mirrormod.set_attrs(self.optuna_trial, **{
                    mirrormod.ATTR_PROGRESS: round(float(runner.progress), 4)})

    def on_unit(self, runner: Any) -> None:
        """Keep the trial's evidence so far next to its model (a pruned trial's too)."""
        check_space(self.cfg, self.ckpt_dir.parent, "write the trial's evidence", self.faults)
        runner.trace.save(self.ckpt_dir.parent)

    def report(self, split: int, value: float) -> None:
        if self.optuna_trial is None:
            return
        import optuna

        with self.overhead.timed():
            self.optuna_trial.report(value, split)
            prune = self.cfg.study.pruning and self.optuna_trial.should_prune()
        if prune:
            raise optuna.TrialPruned(f"pruned after split {split} (running mean {value:.4g})")


def agent_fault_hook(faults: faultmod.Faults, runner_ref: list[Any]) -> Any:
    def hook(stage: str, update: int) -> None:
        import torch

        # `update` counts updates inside the current split's agent; faults use the global count
        runner = runner_ref[0]
        u = runner.global_updates + 1  # the update in progress
        if faults.oom_at_update == u:
            raise torch.cuda.OutOfMemoryError(
                f"CUDA out of memory (injected by CAPPUCCINO_FAULT at update {u})")
        if faults.hang_at_update == u:
            print(f"CAPPUCCINO_FAULT: hanging inside update {u}", flush=True)
            while True:
                time.sleep(3600)
        if faults.nan_at_update == u and runner.agent is not None:
            with torch.no_grad():
                for p in runner.agent.actor.parameters():
                    p.fill_(float("nan"))

    return hook


def mark_dead_attempts(cfg: Config, store: Store, study: str, trial: int) -> int:
    """RUNNING attempts of this trial whose worker is gone become RETRYING (WorkerDied)."""
    host = socket.gethostname()
    n = 0
    for a in registry.list_attempts(store, study, trial):
        if a.state != "RUNNING" or a.pid == os.getpid():
            continue
        stale = (time.time() - (a.heartbeat_at or a.started_at)) > cfg.trials.heartbeat_timeout_s
        gone = a.host == host and not pid_alive(a.pid)
        if gone or (a.host != host and stale):
            registry.end_attempt(store, a.id, "RETRYING", error_class=DIED,
                                 error_message=f"worker pid {a.pid} on {a.host} died; "
                                 "the trial resumes from its last checkpoint")
            n += 1
    return n


def finish(study_obj: Any, otrial: Any, trial: int, final: registry.AttemptRow,
           overhead: Overhead, store: Store | None = None,
           folder: Path | None = None) -> registry.AttemptRow:
    """Publish the outcome for other hosts' mirrors (with the evidence file in `folder`,
    engine.study.evidence_share), then tell Optuna the final state."""
    if otrial is not None:
        with overhead.timed():
            attrs: dict[str, Any] = {mirrormod.ATTR_PROGRESS: round(float(final.progress), 4)}
            if folder is not None:
                attrs[share.ATTR_EVIDENCE] = share.pack(folder)
            if final.state == "FAILED":
                attrs[mirrormod.ATTR_ERROR] = {"class": final.error_class,
                                               "message": (final.error_message or "")[:500]}
            if final.state == "COMPLETE":
                attrs[mirrormod.ATTR_MODEL] = final.model_path
                attrs[mirrormod.ATTR_SCORES] = final.metrics_dict.get("split_scores")
                if store is not None and final.model_path:  # other hosts' models rows
                    attrs[mirrormod.ATTR_MODEL_METRICS] = mirrormod.model_attrs(
                        store, final.model_path)
            mirrormod.set_attrs(otrial, **attrs)
    with overhead.timed():  # a failed tell is logged; the driver tells it again
        tell(study_obj, trial, final.state, final.objective)
    return final


def run_trial(cfg: Config, study: str, trial: int, device: str | None = None,
              study_obj: Any = None, data: Any = None) -> registry.AttemptRow:
    """Run a trial to its end (all attempts); returns the final attempt row.

    study_obj: the Optuna study (loaded from the storage when None and cfg says so).
    data: prepared StudyData (benchmarks pass it to skip loading).
    """
    from engine.study.layout import check_config
    from engine.study.objective import TrialRunner, prepare_data

    dev = device or setup_torch(cfg)
    overhead = Overhead()
    store = open_store(cfg)
    try:
        with overhead.timed():
            if study_obj is None:
                from engine.study.storage import open_study

                study_obj = open_study(cfg, study, create=False)
            from engine.study.storage import frozen_trial, trial_handle

            frozen = frozen_trial(study_obj, trial)

            otrial = trial_handle(study_obj, trial)
            mirrormod.set_attrs(otrial, **{mirrormod.ATTR_HOST: socket.gethostname(),
                                           mirrormod.ATTR_DEVICE: dev,
                                           mirrormod.ATTR_STORE: registry.store_id(store)})
            mark_dead_attempts(cfg, store, study, trial)
        params = dict(frozen.params)
        hp = from_trial_params(params, Hyperparams.from_config(cfg.ppo))
        if data is None:
            try:
                data = prepare_data(cfg, device=dev)
                # other candles than the study's (a fetch since it began): fail, never pool
                check_config(cfg, store, study, cfg.data.timeframe, data)
            except Exception as e:  # bad data fails the trial with the reason, not a crash
                att = registry.start_attempt(store, study, trial, hp.to_dict(), device=dev,
                                             process=process_name(f"trial-{study}-{trial}"),
                                             pid=os.getpid(), host=socket.gethostname())
                registry.end_attempt(store, att.id, "FAILED", error=e)
                failed = registry.get_attempt(store, att.id)
                assert failed is not None
                return finish(study_obj, otrial, trial, failed, overhead,
                              folder=shared_evidence(cfg, study, trial))
        ckpt_dir = trial_dir(cfg, study, trial) / "checkpoints"
        while True:
            n_oom = registry.count_attempts(store, study, trial, OOM)
            n_died = registry.count_attempts(store, study, trial, DIED)
            minibatch = max(8, hp.effective_minibatch // (2 ** n_oom))
            with overhead.timed():
                att = registry.start_attempt(
                    store, study, trial, hp.to_dict(), device=dev, batch_size=minibatch,
                    process=process_name(f"trial-{study}-{trial}"), pid=os.getpid(),
                    host=socket.gethostname())
            if n_died > cfg.trials.max_crash_retries:
                registry.end_attempt(store, att.id, "FAILED", error_class=DIED,
                                     error_message=f"worker died {n_died} times (limit "
                                     f"{cfg.trials.max_crash_retries})")
                failed = registry.get_attempt(store, att.id)
                assert failed is not None
                return finish(study_obj, otrial, trial, failed, overhead,
                              folder=shared_evidence(cfg, study, trial))
            faults = faultmod.from_env(trial, att.attempt)
            outcome = _attempt(cfg, store, study, trial, att, hp, minibatch, dev, data,
                               ckpt_dir, otrial, faults, overhead, TrialRunner)
            if outcome == "RETRY":
                time.sleep(cfg.trials.retry_wait_s)
                continue
            final = registry.get_attempt(store, att.id)
            assert final is not None
            return finish(study_obj, otrial, trial, final, overhead, store,
                          folder=shared_evidence(cfg, study, trial))
    finally:
        store.close()


def _attempt(cfg: Config, store: Store, study: str, trial: int, att: registry.AttemptRow,
             hp: Hyperparams, minibatch: int, dev: str, data: Any, ckpt_dir: Path,
             otrial: Any, faults: faultmod.Faults, overhead: Overhead,
             runner_cls: Any) -> str:
    """One attempt. Returns "RETRY" (OOM with retries left) or the recorded end state."""
    import optuna
    import torch

    from engine.agent.ppo import NaNLossError
    from engine.study.objective import TimeLimitError

    t0 = time.perf_counter()
    runner_ref: list[Any] = [None]
    notes: dict[str, Any] = {"minibatch": minibatch}
    with AttemptBeat(cfg, att.id, overhead) as beat:
        try:
            check_space(cfg, trial_dir(cfg, study, trial), "start training", faults)
            hooks = WorkerHooks(cfg, store, study, trial, att, ckpt_dir, beat, otrial, faults,
                                overhead)
            runner = runner_cls(cfg, data, hp, dev, seed=trial, hooks=hooks,
                                minibatch=minibatch,
                                agent_hooks=[agent_fault_hook(faults, runner_ref)])
            runner_ref[0] = runner
            loaded = ckpt.load_latest(ckpt_dir)
            if loaded is not None:
                if loaded.skipped:
                    notes["corrupt_checkpoints"] = [{"path": p, "why": w}
                                                    for p, w in loaded.skipped]
                if loaded.state:
                    runner.restore(loaded.state)
                    notes["resumed_from"] = str(loaded.path)
                    notes["resumed_at_update"] = loaded.step
                else:
                    notes["resumed_from"] = None  # every checkpoint was corrupt: fresh start
            metrics = runner.run()
            model_path = save_trial_model(cfg, store, study, trial, data, hp, runner, metrics,
                                          overhead)
            metrics.update(notes, train_s=time.perf_counter() - t0,
                           overhead_s=overhead.seconds)
            registry.end_attempt(store, att.id, "COMPLETE", objective=metrics["objective"],
                                 metrics=metrics, model_path=str(model_path), progress=1.0,
                                 peak_mem_mb=peak_mem_mb(dev))
            return "COMPLETE"
        except torch.cuda.OutOfMemoryError as e:
            n_oom = registry.count_attempts(store, study, trial, OOM)
            retry = n_oom < cfg.trials.max_oom_retries
            if dev.startswith("cuda"):
                torch.cuda.empty_cache()
            notes["oom_retries_before"] = n_oom
            registry.end_attempt(store, att.id, "RETRYING" if retry else "FAILED", error=e,
                                 error_class=OOM, metrics=notes, peak_mem_mb=peak_mem_mb(dev),
                                 progress=_progress(runner_ref))
            return "RETRY" if retry else "FAILED"
        except optuna.TrialPruned as e:
            registry.end_attempt(store, att.id, "PRUNED", error=e, metrics=notes,
                                 objective=_mean(runner_ref), progress=_progress(runner_ref),
                                 peak_mem_mb=peak_mem_mb(dev))
            return "PRUNED"
        except (NaNLossError, TimeLimitError, StoreError, ckpt.CheckpointError) as e:
            registry.end_attempt(store, att.id, "FAILED", error=e, metrics=notes,
                                 progress=_progress(runner_ref), peak_mem_mb=peak_mem_mb(dev))
            return "FAILED"
        except Exception as e:  # any other error fails this trial, not the study
            registry.end_attempt(store, att.id, "FAILED", error=e, metrics=notes,
                                 progress=_progress(runner_ref), peak_mem_mb=peak_mem_mb(dev))
            return "FAILED"


def _progress(ref: list[Any]) -> float:
    return float(ref[0].progress) if ref[0] is not None else 0.0


def _mean(ref: list[Any]) -> float | None:
    r = ref[0]
    return float(r.objective()) if r is not None and r.scores else None


def save_trial_model(cfg: Config, store: Store, study: str, trial: int, data: Any,
                     hp: Hyperparams, runner: Any, metrics: dict[str, Any],
                     overhead: Overhead) -> Path:
    from engine.model.artifact import ModelSpec, save_model

    d = trial_dir(cfg, study, trial)
    check_space(cfg, d, "save the model", faultmod.Faults())
    agent = runner.agent
    spec = ModelSpec(
        tickers=tuple(data.candles.tickers), timeframe=data.candles.timeframe,
        obs_dim=runner._obs_dim(), act_dim=int(data.prices.shape[1]),
        hidden=int(agent.actor.net[0].out_features), features=data.spec.to_dict(),
        env=cfg.env.model_dump(), data_fingerprint=data.fingerprint, study=study, trial=trial,
        extra={"bar_seconds": data.bar_seconds, "holdout_bars": list(data.holdout),
               "cv_bars": list(data.cv), "effective_hp": metrics.get("effective_hp", {})})
    save_model(d, agent.actor.state_dict(), spec, hp.to_dict(), metrics)
    with overhead.timed():
        registry.add_model(store, str(d), study, trial, objective=metrics["objective"],
                           sharpe=metrics["sharpe"], ew_sharpe=metrics["ew_sharpe"],
                           hodl_sharpe=metrics["hodl_sharpe"],
                           data_fingerprint=data.fingerprint,
                           feature_fingerprint=spec.feature_fingerprint)
    return d


def main(cfg: Config, study: str, trial: int, device: str | None = None) -> int:
    with Heartbeat(cfg):
        final = run_trial(cfg, study, trial, device)
    print(f"trial {trial} of study {study}: {final.state}"
          + (f" objective {final.objective:.4f}" if final.objective is not None else "")
          + (f" ({final.error_class}: {final.error_message})" if final.error_class else ""),
          flush=True)
    return 0


__all__ = ["free_mb", "main", "run_trial", "trial_dir"]
