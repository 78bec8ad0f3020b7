"""Conviction replay: counts, thresholds, PnL with fees against the backtest, mismatches, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from engine.cli.main import main
from engine.config import Config
from engine.data.candles import Candles
from engine.data.synthetic import synthetic_candles
from engine.model.untrained import untrained_model
from engine.reports.replay import (
    FACTORS,
    MismatchError,
    ReplayResult,
    check_model,
    load_data,
    replay,
    window,
)
from engine.soak.workdir import SMALL_WINDOWS
from engine.trading.policy import Policy, load_policy

ROOT = Path(__file__).resolve().parents[3]
TICKERS = ("BTC-USD", "ETH-USD")
CONFIG = """
[env]
no_trade_band = 0.0""" + SMALL_WINDOWS

build_model = untrained_model  # test_backtest.py imports it from here


def write_long_csv(path: Path, c: Candles, tickers: tuple[str, ...] | None = None,
                   every: int = 1) -> Path:
    import pandas as pd

    frames = []
    for j, t in enumerate(c.tickers):
        if tickers is not None and t not in tickers:
            continue
        frames.append(pd.DataFrame({
            "timestamp": c.times[::every], "ticker": t, "open": c.open[::every, j],
            "high": c.high[::every, j], "low": c.low[::every, j],
            "close": c.close[::every, j], "volume": c.volume[::every, j]}))
    pd.concat(frames).to_csv(path, index=False)
    return path


@pytest.fixture
def setup(make_config: Callable[..., Config], tmp_path: Path):
    cfg = make_config(CONFIG)
    model = build_model(tmp_path / "model", cfg, TICKERS, seed=3, scale=3.0)
    data = write_long_csv(tmp_path / "bars.csv", synthetic_candles(TICKERS, 700, "5m", seed=11))
    policy = load_policy([model], tickers=TICKERS, timeframe="5m", features=None, env=None)
    return cfg, model, data, policy


def _run(cfg: Config, policy: Policy, data: Path, min_score: float) -> ReplayResult:
    candles = load_data(str(data), TICKERS, "5m", cfg.data.max_fill_bars)
    check_model(policy, candles)
    section = cfg.conviction.model_copy(update={"min_score": min_score})
    return replay(policy, candles, section, cfg.risk.max_position_pct)


def test_counts_thresholds_and_pnl(setup) -> None:
    cfg, _, data, policy = setup
    runs = {m: _run(cfg, policy, data, m) for m in (0.0, 0.5, 0.6, 0.7, 1.0)}
    for m, r in runs.items():
        assert 0 <= r.passed <= r.decisions
        assert r.pass_rate == pytest.approx(r.passed / r.decisions)
        assert sum(r.blocked_by.values()) == r.blocked
        assert set(r.blocked_by) == set(FACTORS)
        assert r.per_month(r.passed) == pytest.approx(r.passed / r.days * 30)
        # The hint is exact at the run's own threshold.
        at_run = [h for h in r.hint if h.min_score == m]
        assert at_run and at_run[0].passed == r.passed
        assert r.raw == runs[0.0].raw  # the raw portfolio never sees the filter
    passed = [runs[m].passed for m in sorted(runs)]
    assert passed == sorted(passed, reverse=True), passed  # higher min_score, fewer passes
    assert 0 < runs[0.6].passed < runs[0.6].decisions  # the filter really has work here
    assert runs[0.6].blocked > 0 and max(runs[0.6].blocked_by.values()) > 0

    zero = runs[0.0]
    assert zero.passed == zero.decisions and zero.blocked == 0
    assert zero.filtered == zero.raw  # same path, same PnL, same fees

    r = runs[0.6]
    # Per factor, what it blocked against what it passed (engine.reports.replay_pnl).
    assert set(r.factor_pnl) == {*FACTORS, "filter"} and r.horizon == 12
    assert (r.factor_pnl["filter"].blocked, r.factor_pnl["filter"].passed) == (
        r.blocked, r.passed)
    assert all(f.blocked <= r.blocked and f.passed <= r.passed for f in r.factor_pnl.values())
    assert any(r.factor_pnl[k].blocked for k in FACTORS)
    assert r.raw.fees > 0 and r.raw.orders > 0
    assert r.filtered.orders < r.raw.orders and r.filtered.fees < r.raw.fees

    none = runs[1.0]  # nothing reaches a perfect score: no entries, so no exits either
    assert none.passed == 0 and none.filtered.orders == 0 and none.filtered.fees == 0
    assert none.filtered.total_return == 0


def test_raw_portfolio_is_the_backtest(setup) -> None:
    """The raw side runs the training env's step: it equals engine.env.backtest."""
    from engine.env.backtest import backtest
    from engine.features import FeatureSpec, compute_features

    cfg, _, data, policy = setup
    r = _run(cfg, policy, data, 0.6)
    candles = load_data(str(data), TICKERS, "5m", cfg.data.max_fill_bars)
    fs = FeatureSpec.from_dict(policy.spec.features)
    start = int(np.searchsorted(candles.times, r.start))
    bt = backtest(lambda obs: policy.act(obs[0]).actions, candles.close,
                  compute_features(candles, fs), fs, cfg.env, start=start)
    assert r.raw.orders == bt.trades
    assert r.raw.fees == pytest.approx(bt.fees, rel=1e-12)
    assert r.raw.final_equity == pytest.approx(float(bt.equity[-1]), rel=1e-12)
    assert r.bars == bt.stop - bt.start - 1


def test_window_and_short_window(setup) -> None:
    cfg, _, data, policy = setup
    candles = load_data(str(data), TICKERS, "5m", cfg.data.max_fill_bars)
    mid = float(candles.times[400])
    lo, hi = window(candles, mid, None)
    assert lo == 400 and hi == candles.n_bars
    r = replay(policy, candles, cfg.conviction, 35.0, lo, hi)
    assert r.start == mid and r.bars == hi - lo - 1
    from engine.data.candles import DataError

    with pytest.raises(DataError, match="nothing to replay"):
        replay(policy, candles, cfg.conviction, 35.0, 0, 30)


def test_mismatches_name_what_differs(setup, tmp_path: Path) -> None:
    cfg, _, _, policy = setup
    c = synthetic_candles(TICKERS, 700, "5m", seed=11)
    one = write_long_csv(tmp_path / "one.csv", c, tickers=("BTC-USD",))
    with pytest.raises(MismatchError, match=r"tickers: .*ETH-USD not in the data"):
        load_data(str(one), TICKERS, "5m", 12)
    hourly = write_long_csv(tmp_path / "hourly.csv", synthetic_candles(TICKERS, 700, "1h"))
    with pytest.raises(MismatchError, match="timeframe: model 5m vs data 1h"):
        load_data(str(hourly), TICKERS, "5m", 12)
    # Close-only data for a model trained on OHLCV features.
    import pandas as pd

    wide = pd.DataFrame({"timestamp": c.times, **{t: c.close[:, j]
                                                  for j, t in enumerate(TICKERS)}})
    wide.to_csv(tmp_path / "wide.csv", index=False)
    closes = load_data(str(tmp_path / "wide.csv"), TICKERS, "5m", 12)
    with pytest.raises(MismatchError, match="fields: the data has no high, low, volume"):
        check_model(policy, closes)
    # The model's own feature spec builds its observations, whatever [features] says now.
    candles = load_data(str(write_long_csv(tmp_path / "ok.csv", c)), TICKERS, "5m", 12)
    check_model(policy, candles)


def test_cli_in_process_errors(setup, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _, model, data, _ = setup
    cfg_path = tmp_path / "cappuccino.toml"
    base = ["--config", str(cfg_path), "conviction", "replay"]
    assert main([*base, "--model", str(model), "--data", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv: file not found" in capsys.readouterr().err
    assert main([*base, "--model", str(tmp_path / "nomodel"), "--data", str(data)]) == 2
    assert "model directory not found" in capsys.readouterr().err
    assert main([*base, "--model", str(model), "--data", str(data), "--min-score", "2"]) == 2
    assert "--min-score" in capsys.readouterr().err
    assert main([*base, "--model", str(model), "--data", str(data), "--start",
                 "March"]) == 2
    assert "--start 'March'" in capsys.readouterr().err
    hourly = write_long_csv(tmp_path / "h.csv", synthetic_candles(TICKERS, 700, "1h"))
    assert main([*base, "--model", str(model), "--data", str(hourly)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "timeframe: model 5m vs data 1h" in err
    assert main([*base, "--model", str(model), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "pass rate" in out and "fees paid" in out and "hint:" in out


def test_cli_subprocess_json_and_missing_file(setup, tmp_path: Path) -> None:
    _, model, data, _ = setup
    cfg_path = tmp_path / "cappuccino.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "engine.cli.main", "--config",
                               str(cfg_path), "conviction", "replay", "--model", str(model),
                               *args], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=120)

    p = cli("--data", str(data), "--min-score", "0.6", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    d = doc["decisions"]
    assert d["passed"] <= d["raw"] and d["pass_rate"] == pytest.approx(d["passed"] / d["raw"])
    assert doc["min_score"] == 0.6 and doc["tickers"] == list(TICKERS)
    assert doc["pnl"]["filtered"]["fees"] <= doc["pnl"]["raw"]["fees"]
    assert doc["hint"]["estimate"] is True and doc["hint"]["text"]
    assert set(doc["blocked_by"]) == set(FACTORS)
    fp = doc["factor_pnl"]
    assert fp["horizon_bars"] == 12 and fp["filter"]["blocked"] == d["raw"] - d["passed"]
    assert all({"blocked_pnl", "passed_pnl"} <= set(fp[k]) for k in FACTORS)
    p = cli("--data", str(tmp_path / "missing.parquet"))
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip().splitlines() == [
        f"cappuccino: --data {tmp_path / 'missing.parquet'}: file not found (give a "
        "CSV/Parquet file or `demo`)"]


def test_demo_data_mismatch(setup, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # The bundled demo data is close-only; this model was trained on OHLCV features.
    _, model, _, _ = setup
    assert main(["--config", str(tmp_path / "cappuccino.toml"), "conviction", "replay",
                 "--model", str(model), "--data", "demo"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "does not match --data demo" in err and "the data has no high, low, volume" in err


def test_tune_replays_probes_exactly(setup) -> None:
    from engine.reports.replay import TARGET_PER_MONTH
    from engine.reports.replay_text import tuned_text

    cfg, _, data, policy = setup
    r = replay(policy, load_data(str(data), TICKERS, "5m", 12),
               cfg.conviction.model_copy(update={"min_score": 0.5}), 35.0, tune=True)
    assert r.tuned[0].min_score == 0.5 and r.tuned[0].passed == r.passed
    assert 1 < len(r.tuned) <= 9
    for before, after in zip(r.tuned, r.tuned[1:], strict=False):  # bisection moves toward
        assert (after.min_score > before.min_score) == (  # the target from each probe
            before.trades_per_month > TARGET_PER_MONTH[1])
    last = r.tuned[-1]
    again = _run(cfg, policy, data, last.min_score)
    assert again.passed == last.passed  # each probe is a real replay, not an estimate
    lo, hi = TARGET_PER_MONTH
    hits = [h for h in r.tuned if lo <= h.trades_per_month <= hi]
    text = tuned_text(r)
    if hits:
        assert "in the target" in text and f"min_score {hits[0].min_score:g} " in text
    else:
        assert "closest to the target" in text


def test_ensembles_from_registry_and_list(setup, tmp_path: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    from engine.runtime import open_store
    from store.registry import add_model

    cfg, model, data, _ = setup
    other = build_model(tmp_path / "model2", cfg, TICKERS, seed=4, scale=3.0)
    store = open_store(cfg)
    try:
        for path, obj in ((model, 1.0), (other, 2.0), (tmp_path / "worse", 0.1)):
            add_model(store, str(path), "s", 0, objective=obj, sharpe=None, ew_sharpe=None,
                      hodl_sharpe=None, data_fingerprint="", feature_fingerprint="")
    finally:
        store.close()
    base = ["--config", str(tmp_path / "cappuccino.toml"), "conviction", "replay", "--data",
            str(data), "--json"]
    assert main([*base, "--model", "ensemble:2"]) == 0  # the top 2; "worse" is not loaded
    reg = json.loads(capsys.readouterr().out)
    assert reg["members"] == 2 and reg["model"] == "ensemble:2"
    assert main([*base, "--model", f"{other},{model}"]) == 0
    assert json.loads(capsys.readouterr().out)["decisions"] == reg["decisions"]
    assert main([*base, "--model", "ensemble:x"]) == 2
    assert "ensemble:K" in capsys.readouterr().err
