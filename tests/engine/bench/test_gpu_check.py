"""The GPU check script runs end to end (tiny sizes, whatever device) and writes its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_gpu_check_smoke_writes_every_part(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, "-m", "engine.bench.gpu_check", "--smoke",
                           "--trials", "2", "--out", str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["bench"]["population_samples_per_s"] > 0
    study = doc["population_study"]
    assert study["returncode"] == 0 and study["states"] == {"COMPLETE": 2}
    assert study["population_trials"] >= 1 and study["study_trials_per_hour"] > 0
