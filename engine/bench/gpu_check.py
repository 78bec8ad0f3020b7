"""The one GPU check: every GPU figure of issue 14 into one JSON file, in about 5 minutes.

    .venv/bin/python -m engine.bench.gpu_check --out gpu_check.json [--trials 128]

On the lent GPU machine (no package index there): first, here,
`.venv/bin/python -m engine.bench.gpu_wheels` fetches the packages its image lacks into
.whl/ and prints the one command to run there (device tool: carry [".whl"]). A missing
package is named in one line (exit 2) before anything is measured. The default budget
(300 s, the watchdog 20 s later) leaves room in 15 device minutes for the machine's start and
one rerun.

The goals' figures first, in this order:
1. env: the vec env step in each mode (engine.env.accel: eager, compile, graph; the one
   training uses on this device first): kernels, launches and host syncs per vec step at
   N = 65,536 (and a population of 256 members × 256 envs), and each fast mode's largest
   difference from eager over steps that cross an episode end;
2. population: aggregate samples/s at K = 256, n = 256 and K = 256, n = 1,024, and the
   speedup against a few members trained one after another on the same GPU;
3. bench: aten ops per vec step, and the CPU goal (K = 8 × 64 envs, 1 thread: population
   against serial), on this machine's CPU;
4. population_study: `cappuccino train --population auto --gpu 0` of --trials trials (each
   3 CPCV splits × 3 seeds + its final fit: 10 members, 1,280 in all) on synthetic data in a
   temp folder, as a real CLI process with its own store, with `cappuccino sample` running
   beside it: wall time, trials per hour, states, peak GPU memory against the sizing's budget
   and estimate, the population size the sizing chose, and the GPU memory the sampler
   recorded for the population's process (the GPU pane's figure);
then 5. extras, with the time left: vec steps/s at N = 1,024 / 65,536 / 1,048,576 per mode,
PPO samples/s of one default trial on cuda:0, the rollout graph, inductor's kernel count.
Each part may run until its weight's share (WEIGHTS) of what is left of the budget, so one
that overran shortens the later ones rather than skipping them.
Each measure is timed and fails alone (its error goes into the JSON); one that would start
past its part's deadline is skipped, saying so, and a watchdog writes what is done
and exits 3 at the budget plus 20 s, whatever hangs. The JSON is rewritten after each part.
Without CUDA every CUDA-only figure is null with the reason. `figures` holds every figure of
issue 14 point 5 with its goal and pass/fail/"not measured" (engine.bench.gpu_figures), and
`verdict` sums them up: the issue's note can be written from the JSON alone. `--smoke` runs
tiny sizes on whatever device there is (CI checks the script itself that way).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

STUDY_TOML = """
[data]
source = "synthetic"
synthetic_bars = {bars}
tickers = ["BTC-USD", "ETH-USD", "SOL-USD", "LINK-USD", "LTC-USD", "AVAX-USD", "UNI-USD"]
[study]
seed = 1
max_splits = 3
population = "auto"
[ppo]
total_steps = {steps}
[trials]
retry_wait_s = 0
checkpoint_every = 5
[sampler]
interval_s = 1
flush_s = 2
"""


BUDGET_S = 300.0   # one run + one rerun + the machine's start fit 15 device minutes
# What the parts and the `train`/`sample` processes import (the GPU image lacks some).
NEEDS = ("numpy", "torch", "psutil", "pynvml", "tqdm", "pydantic", "optuna",
         "engine.config.schema", "engine.bench.gpu_parts", "engine.bench.env_gpu",
         "engine.bench.population", "engine.bench.ppo", "engine.population.cli",
         "engine.population.study", "engine.cli.train", "engine.sampler.gpu", "store.samples")
CHILDREN: list[subprocess.Popen[Any]] = []
# The parts in order, each with its weight: a part may run until now + what is left of the
# budget × its weight over the weights still to come, so one that overran shortens the later
# ones instead of skipping them. The goals' figures come first, what no goal names last.
WEIGHTS = {"env": 0.25, "population": 0.2, "bench": 0.07, "population_study": 0.33,
           "extras": 0.15}
PARTS = tuple(WEIGHTS)


def _part(doc: dict[str, Any], name: str, fn: Any) -> None:
    t0 = time.perf_counter()
    try:
        doc[name] = fn()
    except Exception as e:  # one failing part is reported in the JSON; the others still run
        traceback.print_exc()
        doc[name] = {"error": f"{type(e).__name__}: {e}"}
    doc.setdefault("seconds", {})[name] = round(time.perf_counter() - t0, 1)
    print(f"gpu_check: {name} done in {doc['seconds'][name]} s", file=sys.stderr, flush=True)


def watch_gpu_process(db: Path, proc: subprocess.Popen[str], deadline: float
                      ) -> tuple[float | None, str | None]:
    """Until proc ends: the most GPU memory the sampler saw for proc's pid (what the GPU pane
    shows for the population's process), or None and why it never showed up."""
    import sqlite3

    from store import samples
    from store.db import Store, StoreError

    seen: float | None = None
    rows, pids = 0, set()
    while proc.poll() is None:
        if time.perf_counter() > deadline:
            proc.kill()
            break
        time.sleep(2)
        if not db.exists():
            continue
        try:
            store = Store(db)
            try:
                latest = samples.latest_gpu_processes(store)
            finally:
                store.close()
        except (StoreError, sqlite3.Error):  # mid-creation or busy; the next look will do
            continue
        for r in latest:
            rows += 1
            pids.add(r.pid)
            if r.pid == proc.pid and r.mem_used_mb is not None:
                seen = max(seen or 0.0, r.mem_used_mb)
    proc.wait()
    if seen is not None:
        return seen, None
    if not rows:
        return None, ("the sampler recorded no GPU process at all (no NVML, or NVML reports no "
                      "per-process memory here)")
    return None, (f"the sampler recorded {rows} GPU process rows, none with memory for the "
                  f"study's pid {proc.pid} (pids seen: {sorted(pids)[:10]})")


def study_part(trials: int, smoke: bool, deadline: float) -> dict[str, Any]:
    import torch

    from store import registry, samples
    from store.db import Store

    cuda = torch.cuda.is_available()
    with tempfile.TemporaryDirectory(prefix="cappuccino-gpu-check-") as tmp:
        cfg = Path(tmp) / "cappuccino.toml"
        bars, steps = (3000, 2048) if smoke else (20000, 65536)
        cfg.write_text(STUDY_TOML.format(bars=bars, steps=steps))
        argv = [sys.executable, "-m", "engine.cli.main", "--config", str(cfg), "train",
                "--study", "gpu-check", "--n-trials", str(trials), "--population", "auto"]
        if cuda:
            argv += ["--gpu", "0"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
        db = Path(tmp) / "var" / "cappuccino.db"
        sampler = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--config",
                                    str(cfg), "sample"], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        CHILDREN.append(sampler)
        log_out, log_err = Path(tmp) / "train.out", Path(tmp) / "train.err"
        t0 = time.perf_counter()
        with log_out.open("w") as fo, log_err.open("w") as fe:
            train = subprocess.Popen(argv, stdout=fo, stderr=fe, text=True, env=env)
            CHILDREN.append(train)
            seen_mb, why_pane = watch_gpu_process(db, train, deadline=deadline)
        wall = time.perf_counter() - t0
        sampler.terminate()
        sampler.wait(timeout=30)
        stdout, stderr = log_out.read_text(), log_err.read_text()
        out: dict[str, Any] = {"returncode": train.returncode, "wall_s": round(wall, 1),
                               "stopped_at_deadline": time.perf_counter() >= deadline,
                               "trials": trials, "device": "cuda:0" if cuda else "cpu",
                               "stdout_tail": stdout[-2000:], "stderr_tail": stderr[-2000:],
                               "gpu_pane_worker_mem_mb": seen_mb,
                               "settings": (f"{bars:,} synthetic bars of 7 tickers, 3 CPCV "
                                            f"splits, {steps:,} PPO steps per member "
                                            "([ppo] total_steps; the default is 200,000), "
                                            "other settings default")}
        if why_pane:
            out["why_no_gpu_pane"] = why_pane
        m = re.search(r"population: (\d+) trials, (\d+) envs per member \((.*)\)", stdout)
        if m:
            out.update(population_trials=int(m[1]), envs_per_member=int(m[2]), sizing=m[3])
            budget = re.search(r"([\d.]+) GiB budget", m[3])   # CUDA: half the free memory
            out["budget_mb"] = round(float(budget[1]) * 2**30 / 1e6) if budget else None
            per = re.search(r"([\d.]+) MiB per member", m[3])
            out["member_estimate_mb"] = round(float(per[1]) * 2**20 / 1e6, 1) if per else None
            n = re.search(r"(\d+) members per trial", m[3])
            out["members_per_trial"] = int(n[1]) if n else None
        sizes = [int(k) for k in re.findall(r"population of (\d+) trials", stdout)]
        out["largest_population_trials"] = max(sizes, default=None)
        store = Store(db)
        try:
            counts = registry.state_counts(store, "gpu-check")
            attempts = registry.list_attempts(store, "gpu-check")
            gpus = samples.gpus_since(store, time.time() - wall - 5)
        finally:
            store.close()
        out["sampler_gpu_max_mem_mb"] = max((g.mem_used_mb for g in gpus), default=None)
        out["sampler_gpu_max_util_pct"] = max((g.util_pct or 0.0 for g in gpus), default=None)
        done = sum(v for k, v in counts.items() if k in ("COMPLETE", "PRUNED", "FAILED"))
        out.update(states=counts, trials_done=done,
                   study_trials_per_hour=round(done / wall * 3600, 1),
                   members=trials * (out.get("members_per_trial") or 0) or None,
                   peak_mem_mb=max((a.peak_mem_mb or 0.0) for a in attempts) if attempts else None)
        return out


def _write(doc: dict[str, Any], path: str) -> None:
    """The document with its figures judged, atomically (never a half-written file). Written
    at the start (an unwritable --out fails at once, not after the budget), after each part
    (a crash keeps what was measured) and at the end."""
    for attempt in range(5):   # the watchdog's thread may catch a part mid-update: retry
        try:
            text = json.dumps(dict(doc, **judged(doc)), indent=2, sort_keys=True)
            break
        except RuntimeError:   # dictionary changed size during iteration
            if attempt == 4:
                raise
            time.sleep(0.05)
    tmp = Path(path + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def judged(doc: dict[str, Any]) -> dict[str, Any]:
    """figures (issue 14's, each against its goal) and verdict; never fails the write."""
    from engine.bench.gpu_figures import figures, verdict

    try:
        figs = figures(doc)
        return {"figures": figs, "verdict": verdict(doc, figs)}
    except Exception as e:   # a reader bug must not lose the measured document
        return {"figures": None, "verdict": {"error": f"{type(e).__name__}: {e}"}}


def _watchdog(doc: dict[str, Any], path: str, at: float) -> None:
    """Whatever hangs (a kernel, a child), write what is done and exit 3 at `at`."""
    def run() -> None:
        time.sleep(max(0.0, at - time.perf_counter()))
        doc["stopped_by_watchdog"] = True
        for child in CHILDREN:   # the study and the sampler must not outlive the check
            if child.poll() is None:
                child.kill()
                doc.setdefault("killed_children", []).append(child.pid)
            try:
                child.wait(timeout=5)   # reaped: no zombie left behind
            except subprocess.TimeoutExpired:
                doc.setdefault("unreaped_children", []).append(child.pid)
        _write(doc, path)
        print("gpu_check: over budget, stopped by the watchdog", file=sys.stderr, flush=True)
        try:
            from engine.bench.gpu_figures import table

            print(table(doc), flush=True)
        except Exception as e:   # the JSON is written; a table that fails is said, not fatal
            print(f"gpu_check: no table: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        os._exit(3)
    threading.Thread(target=run, daemon=True).start()


def missing_modules() -> list[str]:
    """Python packages this interpreter lacks for the check (its parts and the `train` and
    `sample` processes it starts): on the GPU machine, whose image lacks some, say so before
    spending its time. engine.bench.gpu_wheels fetches them as wheels to carry there."""
    missing: list[str] = []
    for name in NEEDS:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            top = (e.name or name).split(".")[0]
            if top not in missing:
                missing.append(top)
    return missing


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--out", default="gpu_check.json")
    p.add_argument("--trials", type=int, default=128, help="trials of the study (10 members each)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (checks the script)")
    p.add_argument("--budget-s", type=float, default=BUDGET_S,
                   help="wall-clock budget; the watchdog stops everything 20 s after it")
    p.add_argument("--watchdog-s", type=float, default=None,
                   help="stop everything this long after the start (default: budget + 20)")
    p.add_argument("--only", default=",".join(PARTS),
                   help="comma-separated parts to run (a rerun of what failed costs less)")
    args = p.parse_args(argv)
    if args.trials < 1 or not 1 <= args.budget_s <= 3600 or (args.watchdog_s or 1) <= 0:
        print("gpu_check: --trials must be >= 1, --budget-s within 1..3600 and --watchdog-s "
              "above 0", file=sys.stderr)
        return 2
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    if not only or set(only) - set(PARTS):
        print(f"gpu_check: --only takes parts among {', '.join(PARTS)}, got {args.only!r}",
              file=sys.stderr)
        return 2
    missing = missing_modules()
    if missing:
        print(f"gpu_check: {sys.executable} lacks {', '.join(missing)}: carry them as wheels "
              "(python -m engine.bench.gpu_wheels, which prints the device command)",
              file=sys.stderr)
        return 2
    import torch

    from engine.bench.gpu_parts import bench_part, env_part, extras_part, population_part

    torch.set_num_threads(1)   # CPU figures on one thread, as `cappuccino bench` measures
    start = time.perf_counter()
    end = start + float(args.budget_s) - 5

    def until(part: str) -> float:
        """This part's deadline: its weight's share of what is left of the budget."""
        now = time.perf_counter()
        rest = sum(WEIGHTS[q] for q in PARTS[PARTS.index(part):] if q in only)
        return now + max(0.0, end - now) * WEIGHTS[part] / rest

    doc: dict[str, Any] = {"torch": torch.__version__, "budget_s": args.budget_s,
                           "smoke": args.smoke, "python": sys.version.split()[0],
                           "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available()
                           else None}
    try:
        _write(doc, args.out)
    except OSError as e:
        print(f"gpu_check: cannot write --out {args.out}: {e.strerror or e}", file=sys.stderr)
        return 2
    _watchdog(doc, args.out, start + (args.watchdog_s or args.budget_s + 20))
    parts = (("env", lambda: env_part(args.smoke, until("env"))),
             ("population", lambda: population_part(args.smoke, until("population"))),
             ("bench", lambda: bench_part(args.smoke, until("bench"))),
             ("population_study",
              lambda: study_part(args.trials, args.smoke, until("population_study"))),
             ("extras", lambda: extras_part(args.smoke, until("extras"))))
    for name, fn in parts:
        if name not in only:
            doc[name] = {"skipped": f"not in --only {','.join(only)}"}
            continue
        _part(doc, name, fn)
        _write(doc, args.out)
    doc["wall_s"] = round(time.perf_counter() - start, 1)
    _write(doc, args.out)
    from engine.bench.gpu_figures import table

    print(f"gpu_check: wrote {args.out}", flush=True)
    print(table(doc))   # the figures, also where only the output's tail comes back
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
