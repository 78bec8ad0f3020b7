"""`cappuccino bench --json` keeps design.md's contract: machine, results, ratio of a baseline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_bench_json_contract(config_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(config_path),
                          "bench", "--quick", "--json", "--only", "monitor,trading"],
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["machine"]["cpus"] >= 1 and doc["machine"]["torch_threads"] == 1
    results = doc["results"]
    assert {"monitor_cycle_ms", "decision_latency_ms", "conviction_us_per_decision",
            "trader_broker_calls_per_bar", "trader_candles_per_bar"} <= set(results)
    for name, r in results.items():
        assert r["unit"] and (r["value"] > 0 or r["unit"] == "fraction" and r["value"] == 0), name
        if "baseline" in r:  # measured side by side: the ratio is theirs
            assert r["ratio"] == r["value"] / r["baseline"], name
    assert "errors" not in doc


def test_unknown_module_is_a_usage_error(config_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(config_path),
                          "bench", "--only", "nope"], capture_output=True, text=True)
    assert out.returncode == 2 and "nope" in out.stderr
