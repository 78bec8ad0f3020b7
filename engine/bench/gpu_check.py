"""The one GPU check: every GPU figure of issue 14 into one JSON file, in under 8 minutes.

    .venv/bin/python -m engine.bench.gpu_check --out gpu_check.json [--trials 128]

1. env: the vec env step in each mode (engine.env.accel: eager, compile, graph): kernels,
   launches and host syncs per vec step at N = 65,536 (and a population of 256 members ×
   256 envs), vec steps/s at N = 1,024 / 65,536 / 1,048,576, and each mode's largest
   difference from eager over steps that cross an episode end;
2. population: aggregate samples/s at K = 256, n = 256 and K = 256, n = 1,024, and the
   speedup against a few members trained one after another on the same GPU;
3. bench: aten ops per vec step on CPU and PPO samples/s on cuda:0;
4. population_study: `cappuccino train --population auto --gpu 0` of --trials trials × 3
   CPCV splits (a few hundred members) on synthetic data in a temp folder, as a real CLI
   process with its own store, with `cappuccino sample` running beside it: wall time,
   trials per hour, states, peak GPU memory, the population size the sizing chose, and the
   GPU memory the sampler recorded for the population's process (the GPU pane's figure).
Each measure is timed and fails alone (its error goes into the JSON); one that would start
past its part's share of --budget-s is skipped, saying so, and a watchdog writes what is done
and exits 3 at the budget plus 20 s, whatever hangs. Without CUDA every CUDA-only figure is
null with the reason. `--smoke` runs tiny sizes on whatever device there is (CI checks the
script itself that way).
"""

from __future__ import annotations

import argparse
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


def _part(doc: dict[str, Any], name: str, fn: Any) -> None:
    t0 = time.perf_counter()
    try:
        doc[name] = fn()
    except Exception as e:  # one failing part is reported in the JSON; the others still run
        traceback.print_exc()
        doc[name] = {"error": f"{type(e).__name__}: {e}"}
    doc.setdefault("seconds", {})[name] = round(time.perf_counter() - t0, 1)
    print(f"gpu_check: {name} done in {doc['seconds'][name]} s", file=sys.stderr, flush=True)


def watch_gpu_process(db: Path, proc: subprocess.Popen[str], deadline: float) -> float | None:
    """Until proc ends: the most GPU memory the sampler saw for proc's pid (what the GPU pane
    shows for the population's process); None when it never showed up."""
    import sqlite3

    from store import samples
    from store.db import Store, StoreError

    seen: float | None = None
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
                rows = samples.latest_gpu_processes(store)
            finally:
                store.close()
        except (StoreError, sqlite3.Error):  # mid-creation or busy; the next look will do
            continue
        for r in rows:
            if r.pid == proc.pid and r.mem_used_mb is not None:
                seen = max(seen or 0.0, r.mem_used_mb)
    proc.wait()
    return seen


def study_part(trials: int, smoke: bool, deadline: float) -> dict[str, Any]:
    import torch

    from store import registry, samples
    from store.db import Store

    cuda = torch.cuda.is_available()
    with tempfile.TemporaryDirectory(prefix="cappuccino-gpu-check-") as tmp:
        cfg = Path(tmp) / "cappuccino.toml"
        cfg.write_text(STUDY_TOML.format(bars=3000 if smoke else 20000,
                                         steps=2048 if smoke else 65536))
        argv = [sys.executable, "-m", "engine.cli.main", "--config", str(cfg), "train",
                "--study", "gpu-check", "--n-trials", str(trials), "--population", "auto"]
        if cuda:
            argv += ["--gpu", "0"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
        db = Path(tmp) / "var" / "cappuccino.db"
        sampler = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--config",
                                    str(cfg), "sample"], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        log_out, log_err = Path(tmp) / "train.out", Path(tmp) / "train.err"
        t0 = time.perf_counter()
        with log_out.open("w") as fo, log_err.open("w") as fe:
            train = subprocess.Popen(argv, stdout=fo, stderr=fe, text=True, env=env)
            seen_mb = watch_gpu_process(db, train, deadline=deadline)
        wall = time.perf_counter() - t0
        sampler.terminate()
        sampler.wait(timeout=30)
        stdout, stderr = log_out.read_text(), log_err.read_text()
        out: dict[str, Any] = {"returncode": train.returncode, "wall_s": round(wall, 1),
                               "stopped_at_deadline": time.perf_counter() >= deadline,
                               "trials": trials, "device": "cuda:0" if cuda else "cpu",
                               "stdout_tail": stdout[-2000:], "stderr_tail": stderr[-2000:],
                               "gpu_pane_worker_mem_mb": seen_mb}
        m = re.search(r"population: (\d+) trials, (\d+) envs per member \((.*)\)", stdout)
        if m:
            out.update(population_trials=int(m[1]), envs_per_member=int(m[2]), sizing=m[3])
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
        out.update(states=counts, study_trials_per_hour=round(done / wall * 3600, 1),
                   members=trials * 3,
                   peak_mem_mb=max((a.peak_mem_mb or 0.0) for a in attempts) if attempts else None)
        return out


def _write(doc: dict[str, Any], path: str) -> None:
    tmp = Path(path + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True))
    tmp.replace(path)   # never a half-written file


def _watchdog(doc: dict[str, Any], path: str, at: float) -> None:
    """Whatever hangs (a kernel, a child), write what is done and exit 3 at `at`."""
    def run() -> None:
        time.sleep(max(0.0, at - time.perf_counter()))
        doc["stopped_by_watchdog"] = True
        _write(doc, path)
        print("gpu_check: over budget, stopped by the watchdog", file=sys.stderr, flush=True)
        os._exit(3)
    threading.Thread(target=run, daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--out", default="gpu_check.json")
    p.add_argument("--trials", type=int, default=128, help="trials of the study (× 3 members)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (checks the script)")
    p.add_argument("--budget-s", type=float, default=450.0,
                   help="wall-clock budget; the watchdog stops everything 20 s after it")
    args = p.parse_args(argv)
    import torch

    from engine.bench.gpu_parts import bench_part, env_part, population_part

    torch.set_num_threads(1)   # CPU figures on one thread, as `cappuccino bench` measures
    start = time.perf_counter()
    share = {"env": 0.42, "population": 0.62, "bench": 0.68}   # of the budget, cumulative

    def until(part: str) -> float:
        return start + share[part] * float(args.budget_s)

    doc: dict[str, Any] = {"torch": torch.__version__, "budget_s": args.budget_s,
                           "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available()
                           else None}
    _watchdog(doc, args.out, start + args.budget_s + 20)
    _part(doc, "env", lambda: env_part(args.smoke, until("env")))
    _part(doc, "population", lambda: population_part(args.smoke, until("population")))
    _part(doc, "bench", lambda: bench_part(args.smoke, until("bench")))
    _part(doc, "population_study",
          lambda: study_part(args.trials, args.smoke, start + args.budget_s - 10))
    doc["wall_s"] = round(time.perf_counter() - start, 1)
    _write(doc, args.out)
    print(json.dumps(doc, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
