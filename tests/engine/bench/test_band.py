"""engine.bench.band: the measurements behind the default no-trade band and noise_hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from engine.bench.band import random_week_cost

ROOT = Path(__file__).resolve().parents[3]


def test_held_noise_pays_far_less_than_noise_drawn_every_bar() -> None:
    per_bar = random_week_cost(0.2, -2.5, seeds=1, hold=1)
    held = random_week_cost(0.2, -2.5, seeds=1, hold=64)
    assert len(per_bar) == len(held) == 3   # the last three bundled weeks
    assert all(h < 0.01 for h in held), held   # issue 12 point 4: under 1 % a week
    assert min(per_bar) > 5 * max(held), (per_bar, held)


def test_the_cli_prints_one_json_line_per_setting() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    r = subprocess.run([sys.executable, "-m", "engine.bench.band", "--bands", "0.2",
                        "--log-stds=-2.5", "--holds", "64", "--seeds", "5", "--steps", "2048"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    cost, trial = (json.loads(line) for line in r.stdout.splitlines())
    assert cost["band"] == 0.2 and 0 < cost["random_week_cost_max"] < 0.01
    assert trial["seed"] == 5 and trial["noise_hold"] == 64 and trial["steps"] == 2048
    assert len(trial["seed_scores"]) == 2 and trial["holdout_trades"] >= 2
