"""Every command that takes a name answers an unknown one alike (design.md: 2 is bad usage).

Each row runs the real CLI in a subprocess with a name the store does not know: exit 2, one
line on stderr naming it (and, where the store knows some, the names that exist), nothing on
stdout, no traceback, and the store byte-for-byte as it was (no command row, no promotion, no
supervisor started). With no store at all, none is created.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest

from engine.config import load_config
from engine.supervisor.lock import holder, lock_path
from store.db import Store
from store.processes import upsert_process
from store.registry import start_attempt, upsert_study
from store.trading import upsert_trader

ROOT = Path(__file__).resolve().parents[3]

# (what, argv, the unknown value the line must name, a known name it must list or None)
CASES: list[tuple[str, list[str], str, str | None]] = [
    ("start", ["start", "nope"], "'nope'", "sampler"),
    ("stop", ["stop", "nope"], "'nope'", "sampler"),
    ("restart", ["restart", "nope"], "'nope'", "trader-btc"),
    ("kill", ["kill", "nope"], "'nope'", "sampler"),
    ("logs", ["logs", "nope"], "'nope'", "sampler"),
    ("halt", ["halt", "nope"], "'nope'", "btc"),
    ("resume", ["resume", "nope"], "'nope'", "btc"),
    ("exit", ["exit", "--trader", "nope"], "'nope'", "btc"),
    ("report --trader", ["report", "--trader", "nope"], "'nope'", "btc"),
    ("export --trader", ["export", "fills", "--trader", "nope"], "'nope'", "btc"),
    ("promote: study", ["promote", "--to", "paper", "--trial", "0", "--study", "nope"],
     "'nope'", "s1"),
    ("promote: trial", ["promote", "--to", "paper", "--trial", "99", "--study", "s1"],
     "trial 99", "0"),
    ("promote --check: trial", ["promote", "--to", "paper", "--trial", "99", "--study", "s1",
                                "--check"], "trial 99", "0"),
    ("promote: ensemble's study", ["promote", "--to", "paper", "--model", "ensemble:2",
                                   "--study", "nope"], "'nope'", "s1"),
    ("promote: live trader", ["promote", "--to", "live", "--trader", "nope"], "'nope'", "btc"),
    ("promote: capital trader", ["promote", "--capital", "100", "--trader", "nope"],
     "'nope'", "btc"),
    ("study show", ["study", "show", "--study", "nope"], "'nope'", "s1"),
    ("worker", ["worker", "--study", "nope", "--trial", "3"], "'nope'", None),
]
# Paths and choices (each loads torch or argparse's choices): the same answer.
OTHER: list[tuple[str, list[str], str, str | None]] = [
    ("backtest --model", ["backtest", "--model", "nope", "--data", "bundled"], "nope", None),
    ("conviction --model", ["conviction", "replay", "--model", "nope", "--data", "demo"],
     "nope", None),
    ("trade --model", ["trade", "--model", "nope", "--broker", "sim", "--tickers", "BTC-USD",
                       "--timeframe", "5m", "--capital", "10", "--name", "x"], "nope", None),
    ("data validate file", ["data", "validate", "nope.csv"], "nope.csv", None),
    ("export kind", ["export", "nope"], "'nope'", "fills"),
    ("report period", ["report", "--period", "year"], "'year'", "week"),
    ("bench module", ["bench", "--only", "nope"], "'nope'", "store"),
    ("check venue", ["check", "nope"], "'nope'", "coinbase"),
    ("demo action", ["demo", "nope"], "'nope'", "start"),
]
# Names a store without any process, trader or study cannot know either.
NO_STORE = [c for c in CASES if c[0] in {
    "start", "stop", "logs", "halt", "resume", "exit", "report --trader", "export --trader",
    "promote: study", "promote: capital trader", "study show"}] + [
    ("promote --check: study", ["promote", "--to", "paper", "--trial", "0", "--study", "nope",
                                "--check"], "'nope'", None)]


def cli(config: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    env["CAPPUCCINO_COINBASE__LIVE_ARMED"] = "true"  # `--to live` gets past arming to the name
    return subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(config),
                           *argv], capture_output=True, text=True, timeout=120, cwd=config.parent,
                          env=env)


def dump(path: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def run_all(config: Path, cases: list[tuple[str, list[str], str, str | None]]
            ) -> list[tuple[tuple[str, list[str], str, str | None],
                            subprocess.CompletedProcess[str]]]:
    with ThreadPoolExecutor(4) as pool:  # 20-odd interpreters: side by side, under 30 s
        return list(zip(cases, pool.map(lambda c: cli(config, c[1]), cases), strict=True))


def assert_one_line(what: str, out: subprocess.CompletedProcess[str], named: str) -> str:
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, f"{what}: exit {out.returncode}: {out.stderr}"
    assert "Traceback" not in out.stderr, f"{what}: {out.stderr}"
    assert len(lines) == 1 and lines[0].startswith("cappuccino"), f"{what}: {out.stderr}"
    assert out.stdout == "", f"{what}: printed {out.stdout!r}"
    assert named in lines[0], f"{what}: {lines[0]}"
    return lines[0]


@pytest.fixture
def known_store(supervised_config: Callable[[str], Path]) -> Path:
    """A store that knows processes sampler and trader-btc, trader btc, study s1 trial 0."""
    config = supervised_config("[supervisor]\nservices = []\n")
    cfg = load_config(config, environ={})
    Path(cfg.store.path).parent.mkdir(parents=True, exist_ok=True)
    with Store(cfg.store.path) as s:
        upsert_process(s, "sampler", "sampler", ["sample"], "stopped")
        upsert_process(s, "trader-btc", "trader", ["trade", "--name", "btc"], "stopped")
        upsert_trader(s, "btc", broker="sim", mode="paper", model="/models/x", study="s1",
                      trial=0, tickers=["BTC-USD"], timeframe="5m", capital=Decimal(1000))
        upsert_study(s, "s1", "journal", "5m", 4)
        start_attempt(s, "s1", 0, {})
    return config


@pytest.mark.parametrize("cases", [CASES, OTHER], ids=["names", "paths-and-choices"])
def test_an_unknown_name_is_bad_usage_everywhere_and_changes_nothing(
        known_store: Path, cases: list[tuple[str, list[str], str, str | None]]) -> None:
    cfg = load_config(known_store, environ={})
    before = dump(Path(cfg.store.path))
    for (what, _argv, named, listed), out in run_all(known_store, cases):
        line = assert_one_line(what, out, named)
        if listed is not None:
            assert listed in line, f"{what}: the names that exist are not listed: {line}"
    assert dump(Path(cfg.store.path)) == before
    assert holder(lock_path(cfg.store.path)) is None  # no supervisor was started to ask


def test_an_unknown_name_with_no_store_creates_none(
        supervised_config: Callable[[str], Path]) -> None:
    config = supervised_config("[supervisor]\nservices = []\n")
    cfg = load_config(config, environ={})
    for (what, _argv, named, _listed), out in run_all(config, NO_STORE):
        assert_one_line(what, out, named)
    assert not Path(cfg.store.path).exists()
    assert holder(lock_path(cfg.store.path)) is None
