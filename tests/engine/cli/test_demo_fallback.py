"""Plain `cappuccino status|report|export` find the demo's store when nothing else is named.

Real CLI subprocesses in a fresh working folder (no ./cappuccino.toml, no
$CAPPUCCINO_CONFIG): with only the demo's store there, they read it and say so on stderr;
with a default store there, or a config named, they never look at the demo.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from engine.config import load_config
from engine.demo import write_demo_files
from store.db import Store

ROOT = Path(__file__).resolve().parents[3]


def cli(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "engine.cli.main", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def make_demo(cwd: Path) -> Path:
    config = write_demo_files(cwd / "var" / "demo")
    demo = load_config(config, environ={})
    with Store(demo.store.path) as st, st.write() as db:
        db["traders"].insert({"name": "demo-paper", "broker": "sim", "mode": "paper",
                              "model": "m", "tickers": '["BTC-USD"]', "timeframe": "5m",
                              "capital": "1000", "equity": "1001.25",
                              "trading_state": "ACTIVE", "started_at": 1.0, "updated_at": 1.0})
    return config


def test_status_reads_the_demo_store_and_names_it(tmp_path: Path) -> None:
    config = make_demo(tmp_path)
    r = cli(tmp_path, "status", "--json")
    assert r.returncode == 0, r.stderr
    assert [t["name"] for t in json.loads(r.stdout)["traders"]] == ["demo-paper"]
    line = r.stderr.strip()
    assert "using the demo's store" in line and str(tmp_path / "var" / "demo") in line
    assert f"--config {config}" in line
    assert not (tmp_path / "var" / "cappuccino.db").exists()  # no empty default store made
    r = cli(tmp_path, "export", "fills", "--format", "csv", "-o", "-")
    assert "using the demo's store" in r.stderr and "no fills" in r.stderr  # the demo's


def test_a_default_store_or_a_named_config_wins(tmp_path: Path) -> None:
    make_demo(tmp_path)
    Store(tmp_path / "var" / "cappuccino.db").close()  # the operator's own store
    r = cli(tmp_path, "status", "--json")
    assert r.returncode == 0 and r.stderr == ""
    assert json.loads(r.stdout)["traders"] == []
    other = tmp_path / "other.toml"
    other.write_text(f'[store]\npath = "{tmp_path / "other.db"}"\n')
    Store(tmp_path / "other.db").close()
    r = cli(tmp_path, "--config", str(other), "status", "--json")
    assert r.returncode == 0 and r.stderr == "" and json.loads(r.stdout)["traders"] == []


def test_without_a_demo_nothing_changes(tmp_path: Path) -> None:
    r = cli(tmp_path, "status", "--json")
    assert "using the demo's store" not in r.stderr


def test_a_checkout_with_the_reference_config_finds_the_demo(tmp_path: Path) -> None:
    """The README's first command runs in the repository, whose ./cappuccino.toml is the
    reference (every option commented out): `cappuccino status` there must read the demo
    that `cappuccino-console --demo` started, not an absent default store."""
    (tmp_path / "cappuccino.toml").write_bytes((ROOT / "cappuccino.toml").read_bytes())
    config = make_demo(tmp_path)
    r = cli(tmp_path, "status", "--json")
    assert r.returncode == 0, r.stderr
    assert [t["name"] for t in json.loads(r.stdout)["traders"]] == ["demo-paper"]
    assert f"--config {config}" in r.stderr
    assert not (tmp_path / "var" / "cappuccino.db").exists()
    # Named, the same file is the operator's choice: its own (absent) store, no demo.
    r = cli(tmp_path, "--config", "cappuccino.toml", "status", "--json")
    assert r.returncode == 0 and r.stderr == "" and json.loads(r.stdout)["traders"] == []
