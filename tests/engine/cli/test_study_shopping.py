"""Study shopping, from the shell: six small studies on the same candles.

A study deflated only by its own two trials passes every paper gate; counted among the
twelve trials tried on the same data (engine.study.pool) it is refused, by `study show`,
by `promote --check` and by the supervisor that runs the promotion, also once the other
studies are deleted (the trial ledger keeps their count).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.config import load_config
from engine.study.runner import study_pbo
from store.db import Store
from tests.engine.study.shopping import add_study, shop, shopped

CONFIG = ('[supervisor]\npoll_s = 0.05\nheartbeat_s = 0.2\nstop_grace_s = 1\n'
          'stale_heartbeats = 25\nservices = []\n')
DSR_N = "deflated Sharpe N (trials on the same data)"


@pytest.fixture
def supervised(supervised_config: Callable[[str], Path]) -> Path:
    return supervised_config(CONFIG)


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    return subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(config),
                           *args], capture_output=True, text=True, timeout=120, env=env)


def show(config: Path, study: str) -> dict:
    res = cli(config, "study", "show", "--json", "--study", study)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def gates(doc: dict) -> dict[str, dict]:
    return {g["name"]: g for g in doc["gate"]["paper"]["gates"]}


def test_the_shopped_study_passes_alone_and_is_refused_among_the_others(
        tmp_path: Path) -> None:
    alone, shopped_cfg = tmp_path / "a" / "cappuccino.toml", tmp_path / "s" / "cappuccino.toml"
    for path in (alone, shopped_cfg):
        path.parent.mkdir()
        path.write_text(CONFIG)
    cfg = load_config(alone, environ={})
    with Store(cfg.store.path) as st:
        add_study(Path(cfg.paths.models), st, "shop-0", shopped())
    cfg = load_config(shopped_cfg, environ={})
    with Store(cfg.store.path) as st:
        shop(Path(cfg.paths.models), st, k=6)

    # The same two trials, on their own: every paper gate passes (N = 2).
    doc = show(alone, "shop-0")
    assert doc["dsr_trials"] == 2 and doc["best"]["trial"] == 0
    assert doc["gate"]["paper"]["passed"] is True, doc["gate"]["paper"]["reasons"]
    assert doc["best"]["dsr"] >= 0.95

    # Among the five other studies of two trials on the same data: N = 12, refused.
    doc = show(shopped_cfg, "shop-0")
    pool = doc["dsr_pool"]
    assert doc["trials_attempted"] == 2 and doc["dsr_trials"] == 12 == pool["n"]
    assert pool["own"] == 2 and pool["with_sharpe"] == 12 and pool["deleted"] == 0
    assert [(o["study"], o["trials"]) for o in pool["others"]] == [
        (f"shop-{s}", 2) for s in range(1, 6)]
    assert doc["gate"]["paper"]["passed"] is False
    assert doc["best"]["dsr"] < 0.95
    assert [r.split(":")[0] for r in doc["gate"]["paper"]["reasons"]] == [
        "deflated Sharpe ratio"]
    assert gates(doc)[DSR_N]["value"] == 12 and gates(doc)[DSR_N]["passed"]

    text = cli(shopped_cfg, "study", "show", "--study", "shop-0")
    assert "deflated Sharpe ratio" in text.stdout and "(N = 12," in text.stdout
    assert "N counts every trial on the same data: 2 in this study, 2 in shop-1" in text.stdout

    check = cli(shopped_cfg, "promote", "--check", "--to", "paper", "--study", "shop-0",
                "--trial", "0", "--json")
    plan = json.loads(check.stdout)
    names = {g["name"]: g for g in plan["gates"]}
    assert names[DSR_N]["value"] == 12 and not names["deflated Sharpe ratio"]["passed"]


def test_the_supervisor_refuses_the_shopped_trial_even_with_the_others_deleted(
        supervised: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = load_config(supervised, environ={})
    models = Path(cfg.paths.models)
    with Store(cfg.store.path) as st:
        shop(models, st, k=6)
        for s in range(6):  # what each study's driver does after every trial
            study_pbo(st, f"shop-{s}", cfg)
    status = cli(supervised, "status", "--json")
    assert status.returncode == 0, status.stderr
    latest = json.loads(status.stdout)["study"]   # the driver's evidence, N included
    assert latest["name"] == "shop-5" and latest["dsr_trials"] == 12
    assert latest["dsr_pool"]["own"] == 2 and len(latest["dsr_pool"]["others"]) == 5
    # The operator deletes the other studies: rows, layouts and trial folders.
    with Store(cfg.store.path) as st, st.write():
        for table, col in (("attempts", "study"), ("models", "study"), ("studies", "name")):
            st.conn.execute(f"DELETE FROM {table} WHERE {col} != 'shop-0'")
        st.conn.execute("DELETE FROM kv WHERE key LIKE 'study_layout:shop-%' "
                        "AND key != 'study_layout:shop-0'")
    for s in range(1, 6):
        shutil.rmtree(models / f"shop-{s}")

    doc = show(supervised, "shop-0")
    assert doc["dsr_trials"] == 12 and doc["dsr_pool"]["deleted"] == 10
    assert doc["dsr_pool"]["others"] == [] and doc["dsr_pool"]["with_sharpe"] == 12
    assert doc["gate"]["paper"]["passed"] is False and doc["best"]["dsr"] < 0.95

    # The supervisor runs the promotion and re-checks the gate with the same N.
    code = main(["--config", str(supervised), "promote", "--wait", "0", "--to", "paper",
                 "--study", "shop-0", "--trial", "0"])
    out = capsys.readouterr()
    assert code == 1, out
    assert "the supervisor refused" in out.err and "deflated Sharpe ratio" in out.err
    with Store(cfg.store.path) as st:
        row = st.one("SELECT passed, gates FROM promotions")
    assert row["passed"] == 0
    recorded = {g["name"]: g for g in json.loads(row["gates"])}
    assert recorded[DSR_N]["value"] == 12 and not recorded["deflated Sharpe ratio"]["passed"]
