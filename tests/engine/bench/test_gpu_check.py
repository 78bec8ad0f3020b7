"""The GPU check script runs end to end (tiny sizes, whatever device) and writes its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from engine.bench.gpu_wheels import CARRY, DEVICE_HAS
from engine.config.schema import StudySection

ROOT = Path(__file__).resolve().parents[3]
# Loaded by every Python process of the check (PYTHONPATH): at exit, each writes the
# top-level modules it imported, so the test knows what the GPU machine must have.
RECORDER = """
import atexit, os, sys
def _record():
    tops = {n.split('.')[0] for n in list(sys.modules)}
    with open(os.path.join(os.environ['MODS_DIR'], str(os.getpid())), 'w') as f:
        f.write('\\n'.join(sorted(t for t in tops if t not in sys.stdlib_module_names
                                   and not t.startswith('_'))))
atexit.register(_record)
"""
HIDE = """
import sys
class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'optuna':
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _Hide())
"""


def run_check(tmp_path: Path, *args: str, timeout: float = 240,
              site: str | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    out = tmp_path / "gpu.json"
    env = dict(os.environ)
    if site is not None:
        (tmp_path / "site").mkdir()
        (tmp_path / "site" / "sitecustomize.py").write_text(site)
        (tmp_path / "mods").mkdir()
        env.update(PYTHONPATH=str(tmp_path / "site"), MODS_DIR=str(tmp_path / "mods"))
    proc = subprocess.run([sys.executable, "-m", "engine.bench.gpu_check", "--smoke",
                           "--trials", "2", "--out", str(out), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env)
    assert "Traceback" not in proc.stderr or "error" in out.read_text(), proc.stderr
    return proc.returncode, json.loads(out.read_text())


def test_gpu_check_smoke_writes_every_part(tmp_path: Path) -> None:
    rc, doc = run_check(tmp_path, site=RECORDER)
    assert rc == 0
    imported = {m for f in (tmp_path / "mods").iterdir() for m in f.read_text().split()}
    assert {"optuna", "pydantic", "torch"} <= imported   # the study's process was recorded
    lacking = imported - DEVICE_HAS - set(CARRY) - {"engine", "store", "sitecustomize"}
    assert not lacking, f"the GPU image lacks {lacking}: add them to gpu_wheels.CARRY"
    figs, verdict = doc["figures"], doc["verdict"]
    for name in ("population_samples_per_s", "population_speedup_vs_serial",
                 "population_speedup_vs_serial_cpu", "env_kernels_per_step",
                 "env_host_syncs_per_step", "env_ops_per_step", "study_trials_per_hour"):
        assert figs[name]["status"] in ("pass", "fail", "measured", "not measured"), name
        assert figs[name]["status"] != "not measured" or figs[name]["why"], name
    assert figs["env_ops_per_step"]["value"] == doc["bench"]["env_ops_per_step"]
    assert figs["study_trials_per_hour"]["status"] == "measured"
    if not torch.cuda.is_available():
        assert figs["env_kernels_per_step"]["status"] == "not measured"
        assert not verdict["all_goals_met"] and "env_kernels_per_step" in verdict["not_measured"]
    env, pop, bench, extras = doc["env"], doc["population"], doc["bench"], doc["extras"]
    eager = env["counts_eager"]
    assert 10 < eager["aten_ops"] < 1000 and eager["mode"] == "eager"
    assert extras["rate_eager_64"]["vec_steps_per_s"] > 0
    assert pop["samples_per_s_k2_n16"] > 0 and pop["speedup_vs_serial"]["speedup"] > 0
    assert bench["env_ops_per_step"] > 10
    speed = bench["population_speedup_vs_serial_cpu"]   # each round by wall and by CPU time
    assert len(speed["rounds"]) == len(speed["rounds_per_cpu_s"]) == speed["updates"]
    lo, hi = speed["ci95_per_cpu_s"]
    assert lo <= sum(speed["rounds_per_cpu_s"]) / speed["updates"] <= hi
    if not torch.cuda.is_available():   # CUDA-only figures: null, each with its reason
        assert eager["kernels"] is eager["syncs"] is eager["launches"] is None
        assert "needs a CUDA device" in eager["why_null"]
        assert env["agreement"] is None and "CUDA" in env["why_no_agreement"]
        assert extras["ppo_samples_per_s_cuda"] is None and "CUDA" in extras["why_no_ppo_cuda"]
    else:   # a count is a figure, or "not measured" with the reason: never a bare 0
        assert eager["kernels"] or "not measured" in eager["why_null"]
        assert eager["syncs"] is not None or "not measured" in eager["why_null"]
    study = doc["population_study"]
    assert study["returncode"] == 0 and study["states"] == {"COMPLETE": 2}
    seeds = StudySection().seeds   # the check's study: 3 splits, default seeds, a final fit
    assert study["members_per_trial"] == 3 * seeds + 1 and study["members"] == 2 * (3 * seeds + 1)
    assert study["population_trials"] >= 1 and study["study_trials_per_hour"] > 0


def test_gpu_check_stops_itself_at_its_budget(tmp_path: Path) -> None:
    t0 = time.monotonic()
    rc, doc = run_check(tmp_path, "--budget-s", "3")
    assert rc in (0, 3) and time.monotonic() - t0 < 90
    if rc == 3:   # the watchdog wrote what was done (a very loaded machine)
        assert doc["stopped_by_watchdog"] is True
        return
    skipped = [k for part in ("env", "population", "bench", "extras")
               for k, v in doc[part].items()
               if isinstance(v, dict) and "skipped" in v]
    assert skipped, "a 3 s budget leaves measures undone, and says which"
    study = doc.get("population_study")
    assert study is None or study.get("stopped_at_deadline") or "error" in study


def one_line_exit_2(tmp_path: Path, *args: str, site: str | None = None) -> str:
    out = tmp_path / "never.json"
    env = dict(os.environ)
    if site is not None:
        (tmp_path / "sitecustomize.py").write_text(site)
        env["PYTHONPATH"] = str(tmp_path)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "engine.bench.gpu_check", "--out", str(out),
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not out.exists() and time.monotonic() - t0 < 60   # before any measuring
    return proc.stderr


def test_a_missing_package_is_named_before_any_device_time_is_spent(tmp_path: Path) -> None:
    err = one_line_exit_2(tmp_path, site=HIDE)
    assert "lacks optuna" in err and "gpu_wheels" in err


def test_an_unwritable_out_and_bad_sizes_are_refused_at_once(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert "cannot write --out" in one_line_exit_2(tmp_path, "--out",
                                                     str(tmp_path / "file" / "x.json"))
    assert "--trials" in one_line_exit_2(tmp_path, "--trials", "0")
    assert "--budget-s" in one_line_exit_2(tmp_path, "--budget-s", "-5")
    assert "--only takes parts" in one_line_exit_2(tmp_path, "--only", "env,gpu")


def test_a_rerun_of_one_part_says_what_it_left_out(tmp_path: Path) -> None:
    rc, doc = run_check(tmp_path, "--only", "bench")
    assert rc == 0 and doc["bench"]["env_ops_per_step"] > 10
    assert doc["env"] == {"skipped": "not in --only bench"}
    fig = doc["figures"]["study_trials_per_hour"]
    assert fig["status"] == "not measured" and "not in --only bench" in fig["why"]


def test_the_watchdog_stops_a_run_that_outlives_it_and_its_children(tmp_path: Path) -> None:
    """A run still going at the watchdog's time (here: 6 s in, while the study's `train` and
    `sample` processes run: 50 trials take a minute or more) writes what is done, kills and
    reaps its children, exits 3."""
    import psutil

    t0 = time.monotonic()
    rc, doc = run_check(tmp_path, "--only", "population_study", "--trials", "50",
                        "--watchdog-s", "6", timeout=120)
    assert rc == 3 and doc["stopped_by_watchdog"] is True
    assert time.monotonic() - t0 < 60
    assert "figures" in doc and "verdict" in doc   # judged on what was done
    assert len(doc["killed_children"]) == 2 and not doc.get("unreaped_children")
    for pid in doc["killed_children"]:
        assert not psutil.pid_exists(pid)
