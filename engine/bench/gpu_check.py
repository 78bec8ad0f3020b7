"""The one GPU check: every GPU figure of issue 14 into one JSON file, in a few minutes.

    .venv/bin/python -m engine.bench.gpu_check --out gpu_check.json [--trials 128]

1. `bench`'s population module on cuda:0 (aggregate samples/s and the speedup against the
   per-trial path on the same GPU, env kernels and host syncs per vec step) and the CPU
   figures of the same module, plus ppo_samples_per_s_cuda;
2. a population study: `cappuccino train --population auto --gpu 0` of --trials trials ×
   3 CPCV splits (a few hundred members) on synthetic data in a temp folder, as a real CLI
   process with its own store: wall time, trials per hour, states, peak GPU memory, the
   population size the sizing chose.
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
"""


def _part(doc: dict[str, Any], name: str, fn: Any) -> None:
    t0 = time.perf_counter()
    try:
        doc[name] = fn()
    except Exception as e:
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


def study_part(trials: int, smoke: bool) -> dict[str, Any]:
    import torch

    from store import registry
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
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=540)
        wall = time.perf_counter() - t0
        out: dict[str, Any] = {"returncode": proc.returncode, "wall_s": round(wall, 1),
                               "trials": trials, "device": "cuda:0" if cuda else "cpu",
                               "stdout_tail": proc.stdout[-2000:],
                               "stderr_tail": proc.stderr[-2000:]}
        m = re.search(r"population: (\d+) trials, (\d+) envs per member \((.*)\)", proc.stdout)
        if m:
            out.update(population_trials=int(m[1]), envs_per_member=int(m[2]), sizing=m[3])
        store = Store(Path(tmp) / "var" / "cappuccino.db")
        try:
            counts = registry.state_counts(store, "gpu-check")
            attempts = registry.list_attempts(store, "gpu-check")
        finally:
            store.close()
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
