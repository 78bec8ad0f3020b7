"""A study's trials must all index the same bars: a later `train` on other candles, another
timeframe or another CV layout is refused (engine.study.layout), never pooled."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import load_config
from engine.data.synthetic import synthetic_candles
from engine.study.layout import LayoutMismatchError, check_config
from engine.study.objective import prepare_data
from store import registry
from store.db import Store

from .conftest import TINY  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parents[3]


def _config(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cappuccino.toml"
    p.write_text(text)
    return p


def test_the_first_layout_is_recorded_and_a_different_one_refused(tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path, TINY), environ={})
    store = Store(str(tmp_path / "s.db"))
    try:
        data = prepare_data(cfg, synthetic_candles(cfg.data.tickers, 3000, "5m", 7))
        check_config(cfg, store, "s", "5m", data)
        check_config(cfg, store, "s", "5m", data)            # the same layout: accepted
        check_config(cfg, store, "other", "5m", data)        # layouts are per study
        moved = prepare_data(cfg, synthetic_candles(cfg.data.tickers, 3000, "5m", 8))
        with pytest.raises(LayoutMismatchError, match=r"\(data changed\)"):
            check_config(cfg, store, "s", "5m", moved)
        with pytest.raises(LayoutMismatchError, match=r"\(timeframe changed\)"):
            check_config(cfg, store, "s", "1h", data)
        wider = load_config(_config(tmp_path, TINY.replace("[study]\n",
                                                           "[study]\nholdout_frac = 0.2\n")),
                            environ={})
        with pytest.raises(LayoutMismatchError, match=r"cv, holdout, tests changed"):
            check_config(wider, store, "s", "5m", prepare_data(
                wider, synthetic_candles(cfg.data.tickers, 3000, "5m", 7)))
    finally:
        store.close()


@pytest.mark.slow
def test_train_on_other_candles_is_refused_in_one_line_and_adds_no_trial(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}

    def train(text: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "engine.cli.main", "--config",
             str(_config(tmp_path, text)), "train", "--study", "s", "--n-trials", "1",
             "--direct"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)

    first = train(TINY)
    assert first.returncode == 0, first.stderr[-2000:]
    # a `data fetch` since: the candles changed, so every bar index means another bar
    again = train(TINY.replace("synthetic_bars = 3000", "synthetic_bars = 3100"))
    assert again.returncode == 2, (again.stdout, again.stderr)
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in again.stderr, again.stderr
    assert "study 's' ran on data" in lines[0] and "data, cv, holdout, tests changed" in lines[0]
    cfg = load_config(tmp_path / "cappuccino.toml", environ={})
    store = Store(cfg.store.path)
    try:
        assert {a.trial for a in registry.list_attempts(store, "s")} == {0}
    finally:
        store.close()


@pytest.mark.slow
def test_hosts_sharing_a_study_must_train_on_the_same_candles(tmp_path: Path) -> None:
    # Two hosts, each with its own store and candles, one shared Optuna storage: host B's
    # candles differ (fetched at another time), so its trials would be pooled bar by bar
    # with host A's on other bars. B is refused up front, before any trial.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    shared = f'[study]\nstorage = "sqlite:///{tmp_path / "shared.db"}"\n'

    def train(host: str, text: str) -> subprocess.CompletedProcess[str]:
        (tmp_path / host).mkdir(exist_ok=True)
        cfg = _config(tmp_path / host, text.replace("[study]\n", shared))
        return subprocess.run(
            [sys.executable, "-m", "engine.cli.main", "--config", str(cfg), "train",
             "--study", "s", "--n-trials", "1", "--direct"], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=240)

    a = train("a", TINY)
    assert a.returncode == 0, a.stderr[-2000:]
    b = train("b", TINY.replace("synthetic_bars = 3000", "synthetic_bars = 3100"))
    assert b.returncode == 2, (b.stdout, b.stderr)
    lines = b.stderr.strip().splitlines()
    assert len(lines) == 1 and "(the shared study storage)" in lines[0], b.stderr
    cfg_b = load_config(tmp_path / "b" / "cappuccino.toml", environ={})
    if Path(cfg_b.store.path).exists():   # refused: nothing recorded, no trial on host B
        store = Store(cfg_b.store.path)
        try:
            assert registry.list_attempts(store, "s") == []
        finally:
            store.close()
    # a third host on host A's candles joins (the check `train` runs, in this process)
    from engine.study.storage import open_study

    (tmp_path / "c").mkdir()
    cfg_c = load_config(_config(tmp_path / "c", TINY.replace("[study]\n", shared)), environ={})
    store = Store(str(tmp_path / "c" / "c.db"))
    try:
        check_config(cfg_c, store, "s", "5m", prepare_data(cfg_c), open_study(cfg_c, "s"))
    finally:
        store.close()
