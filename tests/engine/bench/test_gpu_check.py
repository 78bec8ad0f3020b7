"""The GPU check script runs end to end (tiny sizes, whatever device) and writes its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]


def run_check(tmp_path: Path, *args: str, timeout: float = 240) -> tuple[int, dict]:  # type: ignore[type-arg]
    out = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, "-m", "engine.bench.gpu_check", "--smoke",
                           "--trials", "2", "--out", str(out), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in proc.stderr or "error" in out.read_text(), proc.stderr
    return proc.returncode, json.loads(out.read_text())


def test_gpu_check_smoke_writes_every_part(tmp_path: Path) -> None:
    rc, doc = run_check(tmp_path)
    assert rc == 0
    env, pop, bench = doc["env"], doc["population"], doc["bench"]
    eager = env["counts_eager"]
    assert 10 < eager["aten_ops"] < 1000 and eager["mode"] == "eager"
    assert env["rate_eager_64"]["vec_steps_per_s"] > 0
    assert pop["samples_per_s_k2_n16"] > 0 and pop["speedup_vs_serial"]["speedup"] > 0
    assert bench["env_ops_per_step"] > 10
    if not torch.cuda.is_available():   # CUDA-only figures: null, each with its reason
        assert eager["kernels"] is eager["syncs"] is eager["launches"] is None
        assert "needs a CUDA device" in eager["why_null"]
        assert env["agreement"] is None and "CUDA" in env["why_no_agreement"]
        assert bench["ppo_samples_per_s_cuda"] is None and "CUDA" in bench["why_null"]
    else:
        assert eager["kernels"] > 0 and eager["syncs"] == 0
    study = doc["population_study"]
    assert study["returncode"] == 0 and study["states"] == {"COMPLETE": 2}
    assert study["population_trials"] >= 1 and study["study_trials_per_hour"] > 0


def test_gpu_check_stops_itself_at_its_budget(tmp_path: Path) -> None:
    t0 = time.monotonic()
    rc, doc = run_check(tmp_path, "--budget-s", "3")
    assert rc in (0, 3) and time.monotonic() - t0 < 90
    if rc == 3:   # the watchdog wrote what was done (a very loaded machine)
        assert doc["stopped_by_watchdog"] is True
        return
    skipped = [k for part in ("env", "population", "bench") for k, v in doc[part].items()
               if isinstance(v, dict) and "skipped" in v]
    assert skipped, "a 3 s budget leaves measures undone, and says which"
    study = doc.get("population_study")
    assert study is None or study.get("stopped_at_deadline") or "error" in study
