"""N of the deflated Sharpe ratio (engine.study.pool): every trial on the same data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest

from engine.bench.gate import BAR_S, market, study
from engine.bench.gate_shopping import M
from engine.config import load_config
from engine.config.schema import GatesSection
from engine.study.evidence import compute, study_evidence, study_inputs
from engine.study.layout import ATTR
from engine.study.pool import SHARED, pool_of, record_study, study_pool, trial_sharpes
from engine.study.pool_shared import record_shared
from engine.study.stats import deflated_sharpe
from store import ledger, registry
from store.db import Store
from tests.engine.study.shopping import LAYOUT, add_study, noise_trace

ROOT = Path(__file__).resolve().parents[3]


def test_pool_of_counts_every_source_and_pools_their_sharpes() -> None:
    p = pool_of({0: 0.1, 1: None}, {"b": {0: 0.2}, "c": {0: 0.3, 1: 0.4}}, "d/5m",
                deleted=[0.5, None, None], shared=4)
    assert (p.n, p.own, p.deleted, p.shared) == (2 + 1 + 2 + 3 + 4, 2, 3, 4)
    assert p.others == (("b", 1), ("c", 2))
    assert sorted(p.sharpes) == [0.1, 0.2, 0.3, 0.4, 0.5]   # a trial without returns: N only
    assert "3 in 2 other studies on the same data" in p.describe()
    alone = pool_of({0: 0.1, 1: 0.2})
    assert (alone.n, alone.data, alone.others) == (2, None, ())


def test_compute_deflates_by_the_pools_n_and_variance() -> None:
    rng = np.random.default_rng(3)
    data = market(rng)
    studies = {f"s{i}": study(rng, 0.0, M, data, tilted=False) for i in range(3)}
    sharpes = {name: trial_sharpes(t) for name, t in studies.items()}
    pool = pool_of(sharpes["s0"], {s: v for s, v in sharpes.items() if s != "s0"})
    ev = compute("s0", studies["s0"], BAR_S, GatesSection(), pool=pool)
    assert ev.best is not None and ev.dsr_trials == 3 * M and ev.trials_attempted == M
    pick = next(t for t in studies["s0"] if t.trial == ev.best.trial)
    assert pick.trace is not None
    want = deflated_sharpe(pick.trace.per_bar()[1], 3 * M, np.asarray(pool.sharpes))
    assert ev.best.dsr == pytest.approx(want.dsr) and ev.best.sr0 == pytest.approx(want.sr0)
    own = compute("s0", studies["s0"], BAR_S, GatesSection())
    assert own.dsr_trials == M and own.best is not None and own.best.sr0 != ev.best.sr0
    n_gate = {g.name: g for g in ev.gates}["deflated Sharpe N (trials on the same data)"]
    assert n_gate.value == 3 * M and n_gate.passed and f">= {M}" in str(n_gate.threshold)


@pytest.fixture
def env(config_path: Path):
    cfg = load_config(config_path, environ={})
    with Store(cfg.store.path) as st:
        yield cfg, st, Path(cfg.paths.models)


def test_a_store_pools_studies_on_the_same_data_only(env) -> None:
    cfg, st, models = env
    add_study(models, st, "a", {0: noise_trace(1), 1: noise_trace(2)})
    add_study(models, st, "b", {0: noise_trace(3), 1: noise_trace(4), 2: noise_trace(5)})
    add_study(models, st, "recut", {0: noise_trace(6)},   # the same candles, another CV cut
              {**LAYOUT, "cv": [0, 3000], "tests": LAYOUT["tests"][:3]})
    add_study(models, st, "other", {0: noise_trace(7)}, {**LAYOUT, "data": "0123456789abcdef"})
    add_study(models, st, "hourly", {0: noise_trace(8)}, {**LAYOUT, "timeframe": "1h"})
    pool = study_pool(cfg, st, "a", study_inputs(cfg, st, "a"))
    assert pool.data == "5eed5eed5eed5eed/5m" and pool.n == 2 + 3 + 1
    assert pool.others == (("b", 3), ("recut", 1)) and len(pool.sharpes) == 6
    assert study_evidence(cfg, st, "other").dsr_trials == 1
    # a study without a recorded layout (older stores' studies): its own trials only
    with st.write():
        st.conn.execute("DELETE FROM kv WHERE key = 'study_layout:a'")
    assert study_pool(cfg, st, "a", study_inputs(cfg, st, "a")).n == 2


def test_deleted_and_recreated_studies_keep_their_count(env) -> None:
    cfg, st, models = env
    add_study(models, st, "a", {0: noise_trace(1), 1: noise_trace(2)})
    add_study(models, st, "b", {0: noise_trace(3), 1: noise_trace(4), 2: noise_trace(5)})
    for s in ("a", "b"):
        record_study(st, s, study_inputs(cfg, st, s))
    record_study(st, "a", study_inputs(cfg, st, "a"))   # again: nothing doubles
    assert len(ledger.rows_for(st, "5eed5eed5eed5eed/5m")) == 5
    with st.write():  # the operator deletes study b
        st.conn.execute("DELETE FROM attempts WHERE study = 'b'")
        st.conn.execute("DELETE FROM models WHERE study = 'b'")
        st.conn.execute("DELETE FROM studies WHERE name = 'b'")
        st.conn.execute("DELETE FROM kv WHERE key = 'study_layout:b'")
    pool = study_pool(cfg, st, "a", study_inputs(cfg, st, "a"))
    assert (pool.n, pool.deleted, pool.others, len(pool.sharpes)) == (5, 3, (), 5)
    # ... and re-creates it under the same name: a new study, counted on top of the old one
    registry.upsert_study(st, "b", "journal", "5m", 1)
    with st.write():  # a new study row: a later created_at (the old row was deleted)
        st.conn.execute("UPDATE studies SET created_at = created_at + 1 WHERE name = 'b'")
    add_study(models, st, "b", {0: noise_trace(9)})
    pool = study_pool(cfg, st, "a", study_inputs(cfg, st, "a"))
    assert (pool.n, pool.deleted, pool.others) == (6, 3, (("b", 1),))


def test_the_shared_storage_counts_trials_not_mirrored_here(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    cfg_path = tmp_path / "cappuccino.toml"
    cfg_path.write_text(f'[study]\nstorage = "{url}"\n')
    cfg = load_config(cfg_path, environ={})
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name, lay, n in (("a", LAYOUT, 3), ("elsewhere", LAYOUT, 4),
                         ("other-data", {**LAYOUT, "data": "ffffffffffffffff"}, 5)):
        s = optuna.create_study(storage=url, study_name=name)
        s.set_user_attr(ATTR, lay)
        for i in range(n):
            s.add_trial(optuna.trial.create_trial(value=float(i)))
    with Store(cfg.store.path) as st:
        add_study(Path(cfg.paths.models), st, "a", {0: noise_trace(1), 1: noise_trace(2)})
        record_shared(cfg, st, "a")
        rows = ledger.rows_for(st, "5eed5eed5eed5eed/5m")
        assert {(r.study, r.created) for r in rows if r.created == SHARED} == {
            ("a", SHARED), ("elsewhere", SHARED)}
        pool = study_pool(cfg, st, "a", study_inputs(cfg, st, "a"))
        # a's third trial runs on another host, "elsewhere" only there: 1 + 4 not here
        assert (pool.n, pool.own, pool.shared, pool.note) == (2 + 1 + 4, 2, 5, "")
        # a storage that does not answer: the note stands and the N gate refuses
        bad = load_config(cfg_path, environ={
            "CAPPUCCINO_STUDY__STORAGE": f'"sqlite:///{tmp_path}/no/such/dir/x.db"'})
        record_shared(bad, st, "a")
        ev = study_evidence(cfg, st, "a")
        assert ev.pool is not None and ev.pool.note.startswith("shared storage not counted")
        assert "deflated Sharpe N (trials on the same data)" in [
            g.name for g in ev.gates if not g.passed]
        record_shared(cfg, st, "a")   # readable again: the note goes
        assert study_evidence(cfg, st, "a").pool.note == ""  # type: ignore[union-attr]
        # study a deleted here after its driver wrote the ledger: each trial counts once
        record_study(st, "a", study_inputs(cfg, st, "a"))
        add_study(Path(cfg.paths.models), st, "c", {0: noise_trace(3)})
        with st.write():
            for table, col in (("attempts", "study"), ("models", "study"), ("studies", "name")):
                st.conn.execute(f"DELETE FROM {table} WHERE {col} = 'a'")
        pool = study_pool(cfg, st, "c", study_inputs(cfg, st, "c"))
        assert (pool.n, pool.own, pool.deleted, pool.shared) == (1 + 2 + 5, 1, 2, 5)


def test_a_study_deleted_before_any_evidence_still_counts(env) -> None:
    cfg, st, models = env
    add_study(models, st, "a", {0: noise_trace(1)})
    add_study(models, st, "gone", {0: noise_trace(2), 1: noise_trace(3)})  # no driver ran
    with st.write():
        for table, col in (("attempts", "study"), ("models", "study"), ("studies", "name")):
            st.conn.execute(f"DELETE FROM {table} WHERE {col} = 'gone'")
    pool = study_pool(cfg, st, "a", study_inputs(cfg, st, "a"))
    assert (pool.n, pool.deleted, len(pool.sharpes)) == (3, 2, 1)  # no Sharpe: N only


def test_a_garbled_ledger_sharpe_counts_in_n_without_a_traceback(env, config_path) -> None:
    """A ledger row whose Sharpe is not a number (a hand edit, a damaged page) made `study
    show` (and the paper gate's evidence) end in a ValueError traceback. The trial still
    counts in N (it was tried); its Sharpe is unknown, like a trial without returns."""
    cfg, st, models = env
    add_study(models, st, "a", {0: noise_trace(1), 1: noise_trace(2)})
    with st.write():
        for trial, garbled in enumerate(("abc", b"\x00\xff", "")):
            st.conn.execute("INSERT INTO trial_ledger VALUES (?, 'gone', 1.0, ?, ?, 0)",
                            ("5eed5eed5eed5eed/5m", trial, garbled))
    pool = study_pool(cfg, st, "a", study_inputs(cfg, st, "a"))
    assert (pool.n, pool.deleted, len(pool.sharpes)) == (5, 3, 2)
    env_vars = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    run = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(config_path),
                          "study", "show", "--study", "a", "--json"], env=env_vars,
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-800:]
    assert json.loads(run.stdout)["dsr_trials"] == 5
