"""The study driver behind `cappuccino train --study NAME --timeframe 5m --n-trials 100`.

It creates or joins the Optuna study (TPE sampler, median pruner, storage from
engine.study.storage), records the study row, and keeps up to [study] workers trial
workers running. Each trial is `study.ask()` + the sampled hyperparameters, then a worker
process (`cappuccino worker --study S --trial N`) that runs it: under the supervisor by
default (kind "trial", so the console sees it and can kill it), or as a direct child
(`launcher="direct"`, tests and machines without a supervisor). Switching is
`launch_worker`.

When a worker process ends, the trial's latest attempt tells what happened. A worker that
died without recording its end (SIGKILL, OOM killer) leaves a RUNNING attempt: in direct
mode the driver starts the worker again, which marks that attempt RETRYING (WorkerDied)
and resumes from the last checkpoint; under the supervisor the supervisor restarts it
(trial jobs restart after a signal). RUNNING attempts left by an earlier driver are found
by stale heartbeat + dead pid and resumed the same way.

After each trial ends the driver emits a "trial" event, updates best_value/best_trial
(with a "best_value" event when it improves) and recomputes the study's evidence
(engine.study.evidence: PBO by CSCV on every attempted trial's per-bar out-of-sample active
returns, the best trial's deflated Sharpe ratio, held-out interval and baselines, and the
paper gate's verdict); the PBO goes in the study row, the whole summary in the store
(registry.put_study_evidence) for `status --json` and the console.

Hung workers: the worker checks its time limit between updates, so one stuck inside a step
(a wedged CUDA kernel, a deadlock) never stops itself, while its heartbeat thread keeps
beating. The driver kills a worker still running `hang_deadline_s` after its attempt
started ([trials] time_limit_s plus a grace): a supervisor `kill` (or SIGKILL to its
process group with --direct), the attempt FAILED with error_class "TimeLimit", the Optuna
trial FAILED; the study goes on.

Other hosts: on each poll the driver mirrors the shared study's trials that other stores
run into this store's attempts (engine.study.mirror), and raises best_value/best_trial when
another host's trial is the best.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.agent.hyperparams import Hyperparams, sample
from engine.config import Config
from engine.runtime import open_store
from engine.study import evidence_share as share
from engine.study import mirror as mirrormod
from engine.study.storage import open_study, storage_label
from engine.study.tell import retell_finished, tell
from engine.study.worker import DIED, pid_alive, trial_dir
from store import registry
from store.db import Store

Launcher = Literal["supervisor", "direct"]
SETTLED = ("EXITED", "STOPPED", "FATAL")
TIME_LIMIT = "TimeLimit"


def hang_deadline_s(cfg: Config) -> float:
    """Seconds after an attempt starts at which the driver kills its worker."""
    t = cfg.trials
    return t.time_limit_s + max(t.hang_grace_s, 0.1 * t.time_limit_s)


def worker_name(study: str, trial: int) -> str:
    return f"trial-{study}-{trial}"[:64]


def worker_argv(study: str, trial: int, timeframe: str, device: str | None) -> list[str]:
    argv = ["worker", "--study", study, "--trial", str(trial), "--timeframe", timeframe]
    if device:
        argv += ["--device", device]
    return argv


@dataclass
class Worker:
    trial: int
    name: str
    launcher: Launcher
    popen: subprocess.Popen[bytes] | None = None
    launches: int = 1
    started_at: float = field(default_factory=time.time)

    def exit_code(self, store: Store) -> tuple[bool, int | None]:
        """(finished, exit code) of the worker process."""
        if self.popen is not None:
            code = self.popen.poll()
            return code is not None, code
        from store.processes import get_process

        row = get_process(store, self.name)
        if row is None:
            return True, None
        return row.state in SETTLED, row.exit_code


def launch_worker(cfg: Config, study: str, trial: int, timeframe: str, device: str | None,
                  launcher: Launcher) -> Worker:
    """Start one trial worker (the one place that knows how)."""
    name = worker_name(study, trial)
    argv = worker_argv(study, trial, timeframe, device)
    if launcher == "supervisor":
        from engine.supervisor.client import send_command

        # The supervisor builds the argv itself from these checked fields.
        spec = {"kind": "trial", "study": study, "trial": trial, "timeframe": timeframe,
                **({"device": device} if device else {})}
        row = send_command(cfg, "start", name, spec, "cli", wait_s=30.0)
        if row.state == "failed":
            raise RuntimeError(f"supervisor refused to start {name}: {row.result}")
        return Worker(trial, name, launcher)
    from engine.supervisor.spawn import spawn

    return Worker(trial, name, launcher, popen=spawn(cfg, name, "trial", argv).popen)


@dataclass
class StudyRun:
    cfg: Config
    study: str
    timeframe: str
    n_trials: int
    device: str | None = None
    launcher: Launcher = "supervisor"
    log: Any = print
    running: dict[int, Worker] = field(default_factory=dict)
    finished: list[int] = field(default_factory=list)
    overhead_s: float = 0.0

    def __post_init__(self) -> None:
        self.store = open_store(self.cfg)
        t0 = time.perf_counter()
        self.optuna = open_study(self.cfg, self.study)
        registry.upsert_study(self.store, self.study, storage_label(self.cfg, self.study),
                              self.timeframe, self.n_trials)
        self.overhead_s += time.perf_counter() - t0
        row = registry.get_study(self.store, self.study)
        self.best = row.best_value if row and row.best_value is not None else None
        self.base = Hyperparams.from_config(self.cfg.ppo)
        self.store_id = registry.store_id(self.store)
        # Only an RDB storage is shared by other hosts; a journal file is this store's alone.
        self.mirror = (mirrormod.Mirror(self.store, self.study, self.optuna, self.store_id,
                                        models=Path(self.cfg.paths.models))
                       if self.cfg.study.storage else None)
        self._mirror_error = ""

    # -- launching ------------------------------------------------------------------------
    def _new_trial(self) -> int:
        t0 = time.perf_counter()
        trial = self.optuna.ask()
        # whose trial it is, for other hosts' mirrors (the worker adds host and device)
        mirrormod.set_attrs(trial, **{mirrormod.ATTR_STORE: self.store_id})
        if self.cfg.ppo.search:
            sample(trial, self.base)
        self.overhead_s += time.perf_counter() - t0
        return int(trial.number)

    def _launch(self, trial: int, launches: int = 1) -> None:
        w = launch_worker(self.cfg, self.study, trial, self.timeframe, self.device,
                          self.launcher)
        w.launches = launches
        self.running[trial] = w
        self.log(f"trial {trial}: worker started ({self.launcher})")

    def orphans(self) -> list[int]:
        """Trials with a RUNNING attempt whose worker is gone (an earlier driver's)."""
        out = []
        host = socket.gethostname()
        for a in registry.running_attempts(self.store, self.study):
            stale = time.time() - (a.heartbeat_at or a.started_at) > self.cfg.trials.heartbeat_timeout_s
            if a.trial not in self.running and stale and (a.host != host or not pid_alive(a.pid)):
                out.append(a.trial)
        return sorted(set(out))

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> registry.StudyRow:
        self.retell()
        pending = self.orphans()
        created = 0
        while pending or created < self.n_trials or self.running:
            while len(self.running) < self.cfg.study.workers and (pending or created < self.n_trials):
                if pending:
                    self._launch(pending.pop(0))
                else:
                    self._launch(self._new_trial())
                    created += 1
            time.sleep(self.cfg.trials.poll_s)
            for trial, w in list(self.running.items()):
                done, code = w.exit_code(self.store)
                if done:
                    del self.running[trial]
                    self._after_exit(w, code)
            self.stop_hung()
            self.mirror_remote()
        self.mirror_remote()
        row = registry.get_study(self.store, self.study)
        assert row is not None
        return row

    # -- hung workers -----------------------------------------------------------------------
    def stop_hung(self) -> None:
        """Kill workers whose attempt ran past the time limit plus grace (stuck in a step)."""
        limit = hang_deadline_s(self.cfg)
        for trial, w in list(self.running.items()):
            last = registry.latest_attempt(self.store, self.study, trial)
            # an earlier worker's attempt does not count against this one
            start = max(w.started_at, last.started_at if last is not None else 0.0)
            ran = time.time() - start
            if ran > limit and (last is None or last.state not in registry.FINAL_STATES):
                self._kill_hung(w, ran)

    def _kill_hung(self, w: Worker, ran: float) -> None:
        t = self.cfg.trials
        msg = (f"worker ran {ran:.0f} s, past the time limit of {t.time_limit_s:g} s plus "
               f"{hang_deadline_s(self.cfg) - t.time_limit_s:g} s grace (stuck inside a "
               "step?); killed by the study driver")
        self.log(f"trial {w.trial}: {msg}")
        if w.popen is not None:
            import signal

            from engine.supervisor.spawn import signal_group

            signal_group(w.popen.pid, signal.SIGKILL)  # its own session: pgid == pid
            with contextlib.suppress(subprocess.TimeoutExpired):
                w.popen.wait(timeout=10)
        else:
            from engine.supervisor.client import send_command

            row = send_command(self.cfg, "kill", w.name, None, "cli",
                               wait_s=self.cfg.supervisor.stop_grace_s + 10)
            if row.state != "done":
                self.log(f"trial {w.trial}: kill of {w.name} {row.state}: {row.result}")
        del self.running[w.trial]
        last = registry.latest_attempt(self.store, self.study, w.trial)
        if last is not None and last.state in registry.FINAL_STATES:
            self._trial_ended(last)  # it finished just before the kill
            return
        if last is None or last.state != "RUNNING":
            last = registry.start_attempt(self.store, self.study, w.trial, {}, process=w.name,
                                          host=socket.gethostname())
        registry.end_attempt(self.store, last.id, "FAILED", error_class=TIME_LIMIT,
                             error_message=msg)
        self._tell_failed(w.trial, TIME_LIMIT, msg)
        self._trial_ended(_recorded(registry.get_attempt(self.store, last.id)))

    def _tell_failed(self, trial: int, error_class: str, message: str) -> None:
        from engine.study.storage import trial_handle

        # the reason, for other hosts' mirrors (best effort: set_attrs logs a failure)
        mirrormod.set_attrs(trial_handle(self.optuna, trial), **{
            mirrormod.ATTR_ERROR: {"class": error_class, "message": message[:500]},
            share.ATTR_EVIDENCE: share.pack(trial_dir(self.cfg, self.study, trial))
            if self.mirror is not None else None})
        tell(self.optuna, trial, "FAILED", None)  # skipped if the worker told it already

    def retell(self, only: list[int] | None = None) -> None:
        """Trials Optuna still has RUNNING whose attempt here is final (a tell failed): tell
        them again, so the sampler and other hosts see every outcome. At start: all of them
        (no worker of this driver runs yet); later, only a trial whose worker has exited."""
        for trial in retell_finished(self.optuna, self.store, self.study, only):
            self.log(f"trial {trial}: told Optuna its outcome again")

    # -- other hosts ------------------------------------------------------------------------
    def mirror_remote(self) -> None:
        """Copy other hosts' changed trials into the store; a bad poll never stops the study."""
        if self.mirror is None:
            return
        t0 = time.perf_counter()
        try:
            changed, best = self.mirror.poll()
        except Exception as e:
            text = f"{type(e).__name__}: {e}".splitlines()[0]
            if text != self._mirror_error:  # the same error every poll is logged once
                self.log(f"cannot mirror other hosts' trials: {text}")
                self._mirror_error = text
            return
        finally:
            self.overhead_s += time.perf_counter() - t0
        self._mirror_error = ""
        for note in self.mirror.notes:
            self.log(note)
        self.mirror.notes.clear()
        fields: dict[str, Any] = {}
        if best is not None and (self.best is None or best.value > self.best):
            self.best = best.value
            fields.update(best_value=best.value, best_trial=best.trial)
            self.log(f"trial {best.trial} on {best.host} is the best: {best.value:.4f}")
        self._save_study(fields, evidence=any(r.state in ("COMPLETE", "PRUNED", "FAILED")
                                              for r in changed))

    def _after_exit(self, w: Worker, code: int | None) -> None:
        last = registry.latest_attempt(self.store, self.study, w.trial)
        if last is not None and last.state in registry.FINAL_STATES:
            self._trial_ended(last)
            return
        # The worker ended without recording an outcome: it died.
        how = _describe(code)
        if last is not None and last.state == "RUNNING":
            registry.end_attempt(self.store, last.id, "RETRYING", error_class=DIED,
                                 error_message=f"worker pid {last.pid} {how}; resuming from "
                                 "its last checkpoint")
        elif last is None or last.state == "RETRYING":
            # it died before recording an attempt: record one, so deaths are counted
            att = registry.start_attempt(self.store, self.study, w.trial, {}, process=w.name)
            registry.end_attempt(self.store, att.id, "RETRYING", error_class=DIED,
                                 error_message=f"worker {how} before starting an attempt; "
                                 f"see {self.cfg.paths.logs}/{w.name}.log")
        died = registry.count_attempts(self.store, self.study, w.trial, DIED)
        if w.launcher == "direct" and died <= self.cfg.trials.max_crash_retries:
            self.log(f"trial {w.trial}: worker {how}; resuming (attempt {died + 1})")
            self._launch(w.trial, w.launches + 1)
            return
        # Out of retries, or stopped for good under the supervisor: the trial fails.
        att = registry.start_attempt(self.store, self.study, w.trial, {}, process=w.name)
        msg = f"worker {how}; {died} deaths, not resumed"
        registry.end_attempt(self.store, att.id, "FAILED", error_class=DIED, error_message=msg)
        self._tell_failed(w.trial, DIED, msg)
        self._trial_ended(_recorded(registry.get_attempt(self.store, att.id)))

    def _trial_ended(self, a: registry.AttemptRow) -> None:
        from engine.notify.events import emit

        self.finished.append(a.trial)
        self.retell([a.trial])  # its worker has exited: if its own tell failed, tell it now
        if a.state == "COMPLETE":
            emit(self.store, self.cfg, "trial", f"Trial {a.trial} complete",
                 f"objective {a.objective:.4f} (mean - SE of active Sharpe)", "success",
                 study=self.study, trial=a.trial, model=a.model_path)
        elif a.state == "PRUNED":
            emit(self.store, self.cfg, "trial", f"Trial {a.trial} pruned",
                 a.error_message or "pruned", "info", study=self.study, trial=a.trial)
        else:
            emit(self.store, self.cfg, "trial", f"Trial {a.trial} failed",
                 f"{a.error_class}: {a.error_message}", "failure", study=self.study,
                 trial=a.trial)
        self.log(f"trial {a.trial}: {a.state}"
                 + (f" objective {a.objective:.4f}" if a.objective is not None else "")
                 + (f" ({a.error_class}: {a.error_message})" if a.state == "FAILED" else ""))
        self._update_study(a)

    def _update_study(self, a: registry.AttemptRow) -> None:
        from engine.notify.events import emit

        fields: dict[str, Any] = {}
        if a.state == "COMPLETE" and a.objective is not None and (
                self.best is None or a.objective > self.best):
            self.best = a.objective
            fields.update(best_value=a.objective, best_trial=a.trial)
            emit(self.store, self.cfg, "best_value", f"New best in study {self.study}",
                 f"trial {a.trial}: objective {a.objective:.4f}", "success", study=self.study,
                 trial=a.trial, model=a.model_path)
        self._save_study(fields, evidence=True)

    def _save_study(self, fields: dict[str, Any], evidence: bool) -> None:
        """The study row's new fields, with its PBO when a trial ended (`evidence`)."""
        value = self._evidence() if evidence else None
        if value is not None:
            fields["pbo"] = value
        if fields:
            registry.update_study(self.store, self.study, **fields)

    def _evidence(self) -> float | None:
        """The study's PBO after refreshing its evidence; a bad trace never stops the study."""
        try:
            return study_pbo(self.store, self.study, self.cfg)
        except Exception as e:  # evidence informs; a bad trace must not stop the study
            self.log(f"cannot compute the study's evidence: {type(e).__name__}: {e}")
            return None

    def close(self) -> None:
        self.store.close()


def study_pbo(store: Store, study: str, cfg: Config | None = None) -> float | None:
    """Recompute the study's evidence, keep its summary in the store; returns the PBO.

    Needs cfg (where the trials' traces are); None without it or with < 2 traces.
    """
    if cfg is None:
        return None
    import json

    from engine.study.evidence import study_evidence, study_inputs
    from engine.study.pool import record_study
    from engine.study.pool_shared import record_shared

    # the trial ledger first: a study deleted later still counts in N (engine.study.pool)
    record_study(store, study, study_inputs(cfg, store, study))
    record_shared(cfg, store, study)
    ev = study_evidence(cfg, store, study)
    doc = ev.to_json()
    doc.pop("trials")   # one row per trial: `study show` lists them; the console reads less
    registry.put_study_evidence(store, study, json.dumps(doc))
    return ev.pbo


def _recorded(a: registry.AttemptRow | None) -> registry.AttemptRow:
    """An attempt this driver has just written (so it is there)."""
    assert a is not None
    return a


def _describe(code: int | None) -> str:
    if code is None:
        return "is gone (exit status unknown)"
    if code < 0:
        import signal

        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code} without recording an outcome"


def run_study(cfg: Config, study: str, timeframe: str, n_trials: int, device: str | None = None,
              launcher: Launcher = "supervisor", log: Any = print) -> registry.StudyRow:
    run = StudyRun(cfg, study, timeframe, n_trials, device, launcher, log)
    try:
        return run.run()
    finally:
        run.close()
