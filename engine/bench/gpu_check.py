"""The one GPU check: every GPU figure of issue 14 into one JSON file, in a few minutes.

    .venv/bin/python -m engine.bench.gpu_check --out gpu_check.json [--trials 128]

1. `bench`'s population module on cuda:0 (aggregate samples/s and the speedup against the
   per-trial path on the same GPU, env kernels and host syncs per vec step) and the CPU
   figures of the same module, plus ppo_samples_per_s_cuda;
2. a population study: `cappuccino train --population auto --gpu 0` of --trials trials ×
   3 CPCV splits (a few hundred members) on synthetic data in a temp folder, as a real CLI
   process with its own store, with `cappuccino sample` running beside it: wall time,
   trials per hour, states, peak GPU memory, the population size the sizing chose, and the
   GPU memory the sampler recorded for the population's process (the GPU pane's figure).
Each part is timed and fails alone (its error goes into the JSON). `--smoke` runs tiny
sizes on whatever device there is (CI checks the script itself that way).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
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


def bench_part(smoke: bool) -> dict[str, Any]:
    import torch

    from engine.bench import population, ppo

    torch.set_num_threads(1)
    out: dict[str, Any] = {}
    if smoke:
        out["population_samples_per_s"] = population.population_rate("cpu", 2, 16, 1)
        out["env_ops_per_step"] = population.env_ops_per_step(n=32, steps=3)
        return out
    for name, res in population.run(quick=False, workdir=Path(".")).items():
        out[name] = res.to_json()
    if torch.cuda.is_available():
        out["ppo_samples_per_s_cuda"] = round(ppo._rate("cuda:0", 1024, 64)[0])
    return out


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


def study_part(trials: int, smoke: bool) -> dict[str, Any]:
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
            seen_mb = watch_gpu_process(db, train, deadline=t0 + 540)
        wall = time.perf_counter() - t0
        sampler.terminate()
        sampler.wait(timeout=30)
        stdout, stderr = log_out.read_text(), log_err.read_text()
        out: dict[str, Any] = {"returncode": train.returncode, "wall_s": round(wall, 1),
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="gpu_check.json")
    p.add_argument("--trials", type=int, default=128, help="trials of the study (× 3 members)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (checks the script)")
    args = p.parse_args(argv)
    import torch

    doc: dict[str, Any] = {"torch": torch.__version__,
                           "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available()
                           else None}
    _part(doc, "bench", lambda: bench_part(args.smoke))
    _part(doc, "population_study", lambda: study_part(args.trials, args.smoke))
    Path(args.out).write_text(json.dumps(doc, indent=2, sort_keys=True))
    print(json.dumps(doc, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
