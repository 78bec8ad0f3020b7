"""A study trained as populations: `cappuccino train ... --population K`.

Optuna stays the planner. The driver asks K trials at once (`study.ask`; TPE's constant
liar keeps them apart; the shape-changing hyperparameters of the first are enqueued for
the other K - 1, so the K trials share one bucket), trains every (trial, CPCV split) as a member of one population in
this process (engine.population.members), and tells each trial its result. Each trial is
still a registry attempt with its own checkpoints and model directory, exactly where a
trial worker (engine.study.worker) puts them, so the Trials pane, promotion and PBO see
no difference.

- Pruning: at every checkpoint before the last update each live trial reports the mean training reward of its
  members' last rollout (step = update); Optuna's median pruner decides per trial; a
  pruned trial's members are masked out (they stop learning; the slot stays idle).
- A member whose loss is not finite fails its trial (NaNLossError), the rest go on.
- [trials] time_limit_s bounds a population's training (checked after each update): past
  it, every live trial of the population FAILS with TimeLimitError.
- Out of memory (torch.cuda.OutOfMemoryError): every attempt of the population ends
  RETRYING (OutOfMemoryError), the population is cut in two halves and each half resumes
  from its trials' checkpoints; a single trial halves its minibatch instead, up to
  [trials] max_oom_retries.
- A driver killed mid-population (SIGKILL) leaves RUNNING attempts; the next
  `train --population` marks them RETRYING (WorkerDied) and resumes those trials from
  their checkpoints before asking new ones.
- Faults for tests come from CAPPUCCINO_FAULT (engine.study.faults: oom_at_update,
  sigkill_at_update).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from engine.agent.hyperparams import Hyperparams, from_trial_params
from engine.config import Config
from engine.log_once import OnceLog
from engine.population.members import (
    PopulationRunner,
    bucket_key,
    trial_members,
    trial_metrics,
)
from engine.runtime import StoreBeat, process_name
from engine.study import checkpoint as ckpt
from engine.study import faults as faultmod
from engine.study import mirror as mirrormod
from engine.study.objective import FINAL, TimeLimitError
from engine.study.runner import StudyRun
from engine.study.trace import Trace, load_trace
from engine.study.worker import (
    OOM,
    Overhead,
    finish,
    mark_dead_attempts,
    peak_mem_mb,
    save_trial_model,
    shared_evidence,
    trial_dir,
)
from store import registry
from store.db import Store

# Sampled hyperparameters that change tensor shapes or loop counts (one bucket each).
SHAPE_PARAMS = ("hidden", "n_steps", "minibatch", "epochs")

# A full disk while marking a pruned trial's evidence: said once per distinct error.
EVIDENCE_WRITES = OnceLog("cappuccino.study", "writing a pruned trial's evidence file")


@dataclass
class TrialSlot:
    """One trial inside a population: its attempt and the indices of its members."""

    trial: int
    hp: Hyperparams
    attempt: registry.AttemptRow
    members: list[int] = field(default_factory=list)
    resumed_at: int | None = None
    notes: dict[str, Any] = field(default_factory=dict)


class PopulationBeat(StoreBeat):
    """One thread writes the heartbeat and progress of every running attempt."""

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg, "population-beat")
        self.progress: dict[int, float] = {}   # attempt id -> progress
        self.failures = OnceLog("cappuccino.study", "population heartbeat")
        self._lock = threading.Lock()

    def set(self, attempt_id: int, progress: float | None) -> None:
        with self._lock:
            if progress is None:
                self.progress.pop(attempt_id, None)
            else:
                self.progress[attempt_id] = progress

    def beat(self, store: Store) -> None:
        with self._lock:
            items = list(self.progress.items())
        for attempt_id, progress in items:
            # a busy store must not stop the population; a failing beat is still said
            with self.failures.logged(f"attempt {attempt_id}"):
                registry.heartbeat_attempt(store, attempt_id, progress)


@dataclass
class _Model:
    """What save_trial_model reads from a runner: the agent's actor and the obs width."""

    agent: Any
    obs_dim: int

    def _obs_dim(self) -> int:
        return self.obs_dim


class PopulationStudy(StudyRun):
    """StudyRun's bookkeeping (store rows, best value, PBO, events, mirror) with trials
    trained as populations in this process instead of one worker process each."""

    def __init__(self, cfg: Config, study: str, timeframe: str, n_trials: int,
                 population: int, device: str, log: Any = print) -> None:
        super().__init__(cfg, study, timeframe, n_trials, device, "direct", log)
        self.population = max(1, int(population))
        self.dev = device
        self.overhead = Overhead()
        self.data: Any = None
        self.oom_single: dict[int, int] = {}   # trial -> OOMs while alone (minibatch halvings)

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> registry.StudyRow:
        from engine.study.objective import prepare_data

        self.data = prepare_data(self.cfg, device=self.dev)
        created = 0
        with PopulationBeat(self.cfg) as beat:
            self.beat = beat
            self.retell()
            orphans = self.orphans()   # an earlier driver's trials (killed): resume them
            for t in orphans:
                mark_dead_attempts(self.cfg, self.store, self.study, t)
            if orphans:
                self.log(f"resuming trials {orphans} of a population that died")
                self.train(orphans)
            while created < self.n_trials:
                k = min(self.population, self.n_trials - created)
                trials = self._ask(k)
                created += k
                self.log(f"population of {k} trials: {trials}")
                self.train(trials)
                self.mirror_remote()
        row = registry.get_study(self.store, self.study)
        assert row is not None
        return row

    def _ask(self, k: int) -> list[int]:
        """K trials asked before any is told. The first samples every hyperparameter; the
        others reuse its shape-changing ones (enqueued), so the K trials form one bucket."""
        from engine.study.storage import trial_handle

        first = self._new_trial()
        params = trial_handle(self.optuna, first).params
        shape = {name: params[name] for name in SHAPE_PARAMS if name in params}
        out = [first]
        for _ in range(k - 1):
            if shape:
                self.optuna.enqueue_trial(shape)
            out.append(self._new_trial())
        return out

    def train(self, trials: list[int], minibatch: int | None = None) -> None:
        """Train these trials (in buckets of equal shapes), halving on OOM."""
        by_key: dict[tuple[Any, ...], list[int]] = {}
        hps = {t: self._hp(t) for t in trials}
        resume = {t: ckpt.load_latest(self.ckpt_dir(t)) for t in trials}
        for t in trials:   # one population per shape, and per update to resume from
            r = resume[t]
            step = r.step if r is not None and r.state else 0
            by_key.setdefault((*bucket_key(hps[t], minibatch), step), []).append(t)
        for group in by_key.values():
            self._train_group(group, hps, resume, minibatch)

    def _train_group(self, trials: list[int], hps: dict[int, Hyperparams],
                     resume: dict[int, Any], minibatch: int | None) -> None:
        import optuna
        import torch

        from engine.study.objective import select_splits

        n_splits = len(select_splits(self.cfg, self.data))
        slots = {t: self._start_attempt(t, hps[t], minibatch) for t in trials}
        n_seeds = self.cfg.study.seeds
        members = [m for t in trials for m in trial_members(t, hps[t], n_splits, n_seeds)]
        for k, m in enumerate(members):
            slots[m.trial].members.append(k)
        runner = PopulationRunner(self.cfg, self.data, members, self.dev, minibatch=minibatch)
        for t in trials:
            self._restore(runner, slots[t], resume[t])
        faults = {t: faultmod.from_env(t, slots[t].attempt.attempt) for t in trials}
        runner.agent.hooks.append(lambda stage, u: self._fault(faults, u))
        runner.on_update = lambda r: self._on_update(r, slots, faults)
        self.started = time.monotonic()
        try:
            runner.train()
        except torch.cuda.OutOfMemoryError as e:
            self._on_oom(trials, slots, runner, e, minibatch)
            return
        except TimeLimitError as e:   # every live trial of the population ran too long
            for slot in slots.values():
                if slot.attempt.state == "RUNNING":
                    self._end(slot, "FAILED", runner, error=e)
            return
        failed = runner.agent.failed.tolist()
        for slot in slots.values():
            if slot.attempt.state != "RUNNING":
                continue   # pruned during training
            if any(failed[k] for k in slot.members):
                from engine.agent.ppo import NaNLossError

                self._end(slot, "FAILED", runner, error=NaNLossError(
                    "loss is not finite (a member of this trial diverged)"))
                continue
            try:
                self._complete(slot, runner)
            except optuna.TrialPruned:
                raise
            except Exception as e:   # a trial's evaluation or model save fails it alone
                self._end(slot, "FAILED", runner, error=e)

    # -- attempts -------------------------------------------------------------------------
    def ckpt_dir(self, trial: int) -> Path:
        return trial_dir(self.cfg, self.study, trial) / "checkpoints"

    def _hp(self, trial: int) -> Hyperparams:
        from engine.study.storage import trial_handle

        return from_trial_params(dict(trial_handle(self.optuna, trial).params), self.base)

    def _start_attempt(self, trial: int, hp: Hyperparams, minibatch: int | None) -> TrialSlot:
        from engine.study.storage import trial_handle

        with self.overhead.timed():
            mirrormod.set_attrs(trial_handle(self.optuna, trial), **{
                mirrormod.ATTR_HOST: socket.gethostname(), mirrormod.ATTR_DEVICE: self.dev,
                mirrormod.ATTR_STORE: self.store_id})
            att = registry.start_attempt(
                self.store, self.study, trial, hp.to_dict(), device=self.dev,
                batch_size=minibatch or hp.effective_minibatch,
                process=process_name(f"population-{self.study}"), pid=os.getpid(),
                host=socket.gethostname())
        self.beat.set(att.id, 0.0)
        return TrialSlot(trial, hp, att)

    def _restore(self, runner: PopulationRunner, slot: TrialSlot, loaded: Any) -> None:
        if loaded is None:
            return
        if loaded.skipped:
            slot.notes["corrupt_checkpoints"] = [{"path": p, "why": w} for p, w in loaded.skipped]
        state = loaded.state
        if not state or "members" not in state:
            slot.notes["resumed_from"] = None
            return
        for k in slot.members:
            runner.load_member_state(k, state["members"][runner.members[k].unit_i])
        slot.resumed_at = loaded.step
        slot.notes.update(resumed_from=str(loaded.path), resumed_at_update=loaded.step)

    def _fault(self, faults: dict[int, faultmod.Faults], update: int) -> None:
        import torch

        for t, f in faults.items():
            if f.oom_at_update == update + 1:
                raise torch.cuda.OutOfMemoryError(
                    f"CUDA out of memory (injected by CAPPUCCINO_FAULT for trial {t} at "
                    f"update {update + 1})")

    def _on_update(self, runner: PopulationRunner, slots: dict[int, TrialSlot],
                   faults: dict[int, faultmod.Faults]) -> None:
        u = runner.agent.updates
        live = [s for s in slots.values() if s.attempt.state == "RUNNING"]
        for s in live:
            self.beat.set(s.attempt.id, runner.progress)
        if any(f.sigkill_at_update == u for f in faults.values()):
            os.kill(os.getpid(), signal.SIGKILL)   # test fault: the whole population dies
        limit = self.cfg.trials.time_limit_s
        if time.monotonic() - self.started > limit:
            raise TimeLimitError(f"population ran past the trial time limit of {limit:g} s")
        if u % self.cfg.trials.checkpoint_every and u != runner.updates_per_split:
            return
        rewards = runner.agent.last_reward.tolist()   # one read-back per checkpoint
        for s in live:
            self._checkpoint(runner, s)
            value = sum(rewards[k] for k in s.members) / len(s.members)
            if u < runner.updates_per_split and self._should_prune(s.trial, value, u):
                runner.agent.deactivate(s.members)
                self._end(s, "PRUNED", runner, error_message=(
                    f"pruned at update {u} (training reward {value:.4g})"), objective=None)

    def _checkpoint(self, runner: PopulationRunner, slot: TrialSlot) -> None:
        from engine.study.worker import check_space

        d = self.ckpt_dir(slot.trial)
        check_space(self.cfg, d, "write a checkpoint", faultmod.Faults())
        state = {"population": True, "updates": runner.agent.updates,
                 "members": {runner.members[k].unit_i: runner.member_state(k)
                             for k in slot.members}}
        path = ckpt.save(d, runner.agent.updates, state)
        gone = ckpt.prune(d, self.cfg.trials.keep_checkpoints)
        with self.overhead.timed():
            registry.add_checkpoint(self.store, self.study, slot.trial, slot.attempt.attempt,
                                    runner.agent.updates, str(path))
            registry.remove_checkpoints(self.store, [str(p) for p in gone])
            registry.update_attempt(self.store, slot.attempt.id, checkpoint_path=str(path),
                                    progress=runner.progress, heartbeat_at=time.time())

    def _should_prune(self, trial: int, value: float, step: int) -> bool:
        from engine.study.storage import trial_handle

        if not self.cfg.study.pruning:
            return False
        with self.overhead.timed():
            handle = trial_handle(self.optuna, trial)
            handle.report(value, step)
            return bool(handle.should_prune())

    def _complete(self, slot: TrialSlot, runner: PopulationRunner) -> None:
        units = sorted(slot.members, key=lambda k: runner.members[k].unit_i)
        splits = [k for k in units if runner.members[k].split_i != FINAL]
        split_metrics = [runner.score(k) for k in splits]
        last = runner.actor(units[-1])  # the final fit on every CV bar: the model
        hp = slot.hp
        metrics, trace = trial_metrics(self.cfg, self.data, split_metrics, last,
                                env_steps=len(units) * runner.agent.updates * hp.n_envs * hp.n_steps,
                                updates=len(units) * runner.agent.updates,
                                effective=runner.effective_config(units[-1]))
        model = _Model(SimpleNamespace(actor=last), runner.obs_dim)
        path = save_trial_model(self.cfg, self.store, self.study, slot.trial, self.data, hp,
                                model, metrics, self.overhead)
        trace.save(Path(path))  # the trial's out-of-sample evidence, next to its model
        metrics.update(slot.notes, minibatch=runner.agent.minibatch, population=runner.k)
        self._end(slot, "COMPLETE", runner, objective=metrics["objective"], metrics=metrics,
                  model_path=str(path), progress=1.0)

    def _mark_evidence(self, trial: int, state: str) -> None:
        """A population trial ends before any split is scored (members train together, so
        pruning and failures come before evaluation): leave an empty trace marked with how it
        ended, so `study show` lists it like a per-trial worker's pruned trial (it counts in
        N either way). Best effort: a full disk must not stop the study."""
        folder = trial_dir(self.cfg, self.study, trial)
        old = load_trace(folder)
        if old is not None and old.splits:
            return   # never replace returns already kept
        try:
            Trace(status=state).save(folder)
        except OSError as e:  # said, and the study goes on: the trial still counts in N
            EVIDENCE_WRITES.error(e, about=f"trial {trial}")

    def _end(self, slot: TrialSlot, state: str, runner: PopulationRunner | None,
             **fields: Any) -> None:
        metrics = fields.pop("metrics", None) or dict(slot.notes)
        progress = fields.pop("progress", runner.progress if runner is not None else 0.0)
        if state in ("PRUNED", "FAILED"):
            self._mark_evidence(slot.trial, state)
        registry.end_attempt(self.store, slot.attempt.id, state, metrics=metrics,
                             progress=progress, peak_mem_mb=peak_mem_mb(self.dev), **fields)
        self.beat.set(slot.attempt.id, None)
        final = registry.get_attempt(self.store, slot.attempt.id)
        assert final is not None
        slot.attempt = final
        if state == "RETRYING":
            return
        from engine.study.storage import trial_handle

        finish(self.optuna, trial_handle(self.optuna, slot.trial), slot.trial, final,
               self.overhead, self.store,
               folder=shared_evidence(self.cfg, self.study, slot.trial))
        self._trial_ended(final)

    def _on_oom(self, trials: list[int], slots: dict[int, TrialSlot], runner: PopulationRunner,
                error: BaseException, minibatch: int | None) -> None:
        import torch

        if self.dev.startswith("cuda"):
            torch.cuda.empty_cache()
        live = [t for t in trials if slots[t].attempt.state == "RUNNING"]
        if len(live) == 1 and len(runner.members) == len(slots[live[0]].members):
            t = live[0]
            n = self.oom_single.get(t, 0) + 1
            self.oom_single[t] = n
            retry = n <= self.cfg.trials.max_oom_retries
            self._end(slots[t], "RETRYING" if retry else "FAILED", runner, error=error,
                      error_class=OOM)
            if retry:
                time.sleep(self.cfg.trials.retry_wait_s)
                mb = minibatch or slots[t].hp.effective_minibatch
                self.train([t], max(8, mb // 2))
            return
        for t in live:
            self._end(slots[t], "RETRYING", runner, error=error, error_class=OOM)
        half = len(live) // 2 or 1
        self.log(f"out of memory with {len(live)} trials: halving the population")
        time.sleep(self.cfg.trials.retry_wait_s)
        for part in (live[:half], live[half:]):
            if part:
                self.train(part, minibatch)


def run_population_study(cfg: Config, study: str, timeframe: str, n_trials: int,
                         population: int, device: str, log: Any = print) -> registry.StudyRow:
    run = PopulationStudy(cfg, study, timeframe, n_trials, population, device, log)
    try:
        return run.run()
    finally:
        run.close()
