"""Two hosts on one study in a real PostgreSQL server, each with its own store and a
population driver (`cappuccino train --population 2`); one driver is SIGKILLed mid-study.

Checks: the shared study ends with no trial RUNNING (the killed host's next driver resumes
its trials from their checkpoints), and, after `cappuccino study sync` on each host, BOTH
stores show every host's trials, the same overall best and the same PBO and best-trial
evidence (`status --json`, `study show --json`), with separate `[paths] models`: the
evidence files travel through the shared storage (engine.study.evidence_share). Skips, saying why, where
no PostgreSQL server or psycopg2 driver can be had (`pip install cappuccino[postgres]`;
Debian: `apt-get install postgresql`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from engine.config import load_config
from store import registry
from store.db import Store

from . import pg_cluster  # type: ignore[import-not-found]
from .conftest import TINY  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def pg() -> Iterator[pg_cluster.Cluster]:
    try:
        cluster = pg_cluster.start()
    except pg_cluster.Unavailable as e:
        pytest.skip(f"no PostgreSQL for the multi-host test: {e}")
    try:
        yield cluster
    finally:
        cluster.stop()


def host(tmp_path: Path, name: str, url: str) -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "cappuccino.toml").write_text(
        TINY.replace("[study]", f'[study]\nstorage = "{url}"\npruning = false')
        .replace("[trials]", "[trials]\nheartbeat_timeout_s = 1")
        + f'[paths]\nmodels = "{d / "models"}"\n')   # each host its own models path
    return d / "cappuccino.toml"


def cli(cfg: Path, *args: str, fault: str = "") -> subprocess.Popen[str]:
    env = {**os.environ, "CAPPUCCINO_FAULT": fault}
    return subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--config", str(cfg),
                             *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def train(cfg: Path, n: int, fault: str = "") -> subprocess.Popen[str]:
    return cli(cfg, "train", "--study", "shared", "--n-trials", str(n), "--population", "2",
               fault=fault)


def finish(p: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=180)
    return p.returncode, out, err


@pytest.mark.slow
def test_two_hosts_one_postgres_study_and_a_killed_driver(pg, tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, b = host(tmp_path, "a", pg.url), host(tmp_path, "b", pg.url)
    killed = train(a, 2, fault="sigkill_at_update=3")
    peer = train(b, 2)
    code, _, err = finish(killed)
    assert code == -9, err
    store_a = Store(load_config(a, environ={}).store.path)
    try:
        dead = [x for x in registry.list_attempts(store_a, "shared") if not x.mirrored]
        assert len(dead) == 2 and {x.state for x in dead} == {"RUNNING"}
        while time.time() - max(x.heartbeat_at or 0 for x in dead) < 1.5:  # stale
            time.sleep(0.2)
        code, out, err = finish(train(a, 1))   # resumes the 2 dead trials, adds 1
        assert code == 0, err
        assert "resuming trials" in out
        for x in dead:
            first, second = registry.list_attempts(store_a, "shared", x.trial)
            assert (first.state, first.error_class) == ("RETRYING", "WorkerDied")
            assert second.state == "COMPLETE" and second.metrics_dict["resumed_at_update"] == 2
    finally:
        store_a.close()
    code, _, err = finish(peer)
    assert code == 0, err
    code, _, err = finish(train(b, 1))          # B's driver runs last: its mirror sees all
    assert code == 0, err

    study = optuna.load_study(study_name="shared", storage=pg.url)
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 6
    assert {t.state for t in trials} == {optuna.trial.TrialState.COMPLETE}  # none RUNNING
    stores = {t.user_attrs.get("store") for t in trials}
    assert len(stores) == 2                                        # both hosts ran trials
    status = cli(b, "status", "--json")
    out, err = status.communicate(timeout=60)
    assert status.returncode == 0, err
    # Both hosts see every trial, the same overall best and the same PBO and DSR over all
    # six, though neither can read the other's models folder: each trial's evidence came
    # through the shared storage. A's driver ended before B's last trials: `study sync`.
    for cfg in (a, b):
        code, out, err = finish(cli(cfg, "study", "sync", "--study", "shared"))
        assert code == 0, err
    docs, shows = [], []
    for cfg in (a, b):
        status = cli(cfg, "status", "--json")
        out, err = status.communicate(timeout=60)
        assert status.returncode == 0, err
        docs.append(json.loads(out)["study"])
        code, out, err = finish(cli(cfg, "study", "show", "--study", "shared", "--json"))
        assert code == 0, err
        shows.append(json.loads(out))
    for doc, show in zip(docs, shows, strict=True):
        assert doc["name"] == "shared"
        assert doc["trials"].get("COMPLETE") == 6
        assert doc["best_value"] == pytest.approx(max(t.value for t in trials))
        assert doc["pbo"] is not None
        assert show["trials_attempted"] == show["trials_with_evidence"] == 6
    assert docs[0]["pbo"] == docs[1]["pbo"] and shows[0]["pbo"] == shows[1]["pbo"]
    assert docs[0]["pbo"] == pytest.approx(shows[0]["pbo"], abs=1e-6)   # show rounds to 6
    assert docs[0]["best_trial"] == docs[1]["best_trial"] == shows[0]["best"]["trial"]
    assert shows[0]["best"] == shows[1]["best"]
    assert {t["trial"] for t in shows[0]["trials"]} == {t.number for t in trials}
