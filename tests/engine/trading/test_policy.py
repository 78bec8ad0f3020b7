"""Policy: ensemble averaging and agreement, mismatch refusal, missing/corrupt models."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from engine.config import Config
from engine.model.artifact import ModelError
from engine.trading.policy import load_policy, resolve_model_dirs
from store.db import Store

sys.path.insert(0, str(Path(__file__).parent))
from conftest import build_model  # noqa: E402

TICKERS = ("BTC-USD", "ETH-USD")


def _load(cfg: Config, dirs: list[Path], **kw: object):
    args = {"tickers": TICKERS, "timeframe": "5m", "features": None,
            "env": cfg.env.model_dump()} | kw
    return load_policy(dirs, **args)  # type: ignore[arg-type]


def test_ensemble_mean_and_agreement(fast_config: Callable[..., Config], tmp_path: Path) -> None:
    cfg = fast_config()
    dirs = [build_model(tmp_path / f"m{i}", cfg, TICKERS, seed=i, scale=100) for i in range(3)]
    p = _load(cfg, dirs)
    obs = np.random.default_rng(0).standard_normal(p.spec.obs_dim).astype(np.float32)
    out = p.act(obs)
    assert out.members.shape == (3, 2)
    np.testing.assert_allclose(out.actions, out.members.mean(axis=0))
    expected = (np.sign(out.members) == np.sign(out.members.mean(axis=0))).mean(axis=0)
    np.testing.assert_allclose(out.agreement, expected)
    single = _load(cfg, dirs[:1]).act(obs)
    assert np.all(single.agreement == 1.0)


def test_mismatch_is_refused_with_what_differs(fast_config: Callable[..., Config],
                                               tmp_path: Path) -> None:
    cfg = fast_config()
    d = build_model(tmp_path / "m", cfg, TICKERS)
    with pytest.raises(ModelError) as e:
        _load(cfg, [d], tickers=("BTC-USD", "SOL-USD"), timeframe="1h",
              env=cfg.env.model_dump() | {"max_trade_fraction": 0.5})
    msg = str(e.value)
    assert "tickers" in msg and "SOL-USD" in msg and "timeframe" in msg
    assert "env.max_trade_fraction" in msg and str(d) in msg
    other = cfg.model_copy(update={"features": cfg.features.model_copy(update={"lookback": 3})})
    d2 = build_model(tmp_path / "m2", other, TICKERS)
    with pytest.raises(ModelError, match="features.lookback"):
        _load(cfg, [d, d2])  # members must agree with each other


def test_missing_and_corrupt_models(fast_config: Callable[..., Config], tmp_path: Path) -> None:
    cfg = fast_config()
    with pytest.raises(ModelError, match="not found"):
        _load(cfg, [tmp_path / "nope"])
    d = build_model(tmp_path / "m", cfg, TICKERS)
    (d / "model.pt").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="corrupt"):
        _load(cfg, [d])
    (d / "spec.json").write_text("{")
    with pytest.raises(ModelError, match="corrupt"):
        _load(cfg, [d])


def test_resolve_ensemble_from_registry(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    with pytest.raises(ModelError, match="no models"):
        resolve_model_dirs("ensemble:2", store)
    for i, obj in enumerate([0.1, 0.5, 0.3]):
        store.conn.execute("INSERT INTO models (path, study, trial, objective, created_at) "
                           "VALUES (?, 'st', ?, ?, ?)", (f"/m/{i}", i, obj, i))
    dirs, study = resolve_model_dirs("ensemble:2", store)
    assert [str(x) for x in dirs] == ["/m/1", "/m/2"] and study == "st"
    assert resolve_model_dirs("a, b", None)[0] == [Path("a"), Path("b")]
    with pytest.raises(ModelError, match="whole number"):
        resolve_model_dirs("ensemble:x", store)


def test_an_older_model_keeps_its_own_mapping(fast_config: Callable[..., Config],
                                              tmp_path: Path) -> None:
    """A model dir from before the target-weight mapping (no mapping, band, delay or spread
    in its env) loads under today's config and trades the delta mapping it was trained on;
    members with different mappings are refused."""
    import json

    from engine.env.step import step_params

    cfg = fast_config()
    old = build_model(tmp_path / "old", cfg, TICKERS)
    spec = json.loads((old / "spec.json").read_text())
    for key in ("action_mapping", "no_trade_band", "execution_delay", "spread_bps",
                "costs_from"):
        spec["env"].pop(key)
    spec["env"]["fee_rate"] = 0.0025
    (old / "spec.json").write_text(json.dumps(spec))
    p = _load(cfg, [old])   # the trader's env says weights: not a reason to refuse
    prm = step_params(p.spec.env)
    assert not prm.weights and not prm.delay and prm.fee == 0.0025
    new = build_model(tmp_path / "new", cfg, TICKERS, seed=1)
    assert step_params(_load(cfg, [new]).spec.env).weights
    with pytest.raises(ModelError, match="env.action_mapping"):
        _load(cfg, [new, old])
