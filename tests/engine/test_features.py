"""The feature pipeline: exact train/serve parity, causality, close-only degradation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config.schema import EnvSection, FeaturesSection
from engine.data.candles import Candles, DataError
from engine.data.load import load_candles
from engine.data.synthetic import synthetic_candles
from engine.env.vec_env import PortfolioVecEnv
from engine.features import (
    ALL_INDICATORS,
    INDICATORS,
    FeatureSpec,
    _raw_indicator,
    _rolling_sum,
    compute_features,
    feature_spec,
    first_valid_index,
    live_observation,
    longest_history,
    obs_dim,
    observation,
)

TICKERS = ("BTC-USD", "ETH-USD", "SOL-USD")


@pytest.fixture(scope="module")
def ohlcv() -> Candles:
    return synthetic_candles(TICKERS, 1500, "5m", seed=3)


def small_cfg(**kw: object) -> FeaturesSection:
    return FeaturesSection(lookback=3, norm_window=64, clip=4.0, **kw)


def _train_vs_live(candles: Candles, spec: FeatureSpec) -> int:
    """Run the training env a while, then rebuild every env's observation on the live path."""
    feats = compute_features(candles, spec)
    env_cfg = EnvSection(max_trade_fraction=0.5, min_order_value=0.0)
    env = PortfolioVecEnv(torch.from_numpy(candles.close), torch.from_numpy(feats), spec,
                          env_cfg, n_envs=16, episode_len=200, seed=5)
    obs = env.reset()
    gen = torch.Generator().manual_seed(1)
    checked = 0
    for step in range(60):
        if step % 7 == 0:  # compare along the way, with non-trivial cash and holdings
            for i in range(env.n_envs):
                t = int(env.t[i])
                live = live_observation(candles.slice(0, t + 1), spec, float(env.cash[i]),
                                        env.holdings[i].numpy(), env_cfg.initial_cash)
                np.testing.assert_array_equal(obs[i].numpy(), live)
                checked += 1
        obs, _r, _d, _info = env.step(torch.rand(16, candles.n_assets, generator=gen) * 2 - 1)
    assert float(env.holdings.sum()) > 0  # the state part was exercised
    return checked


def test_training_and_live_observations_are_identical_ohlcv(ohlcv: Candles) -> None:
    spec = feature_spec(small_cfg(), ohlcv)
    assert spec.dropped == ()
    assert _train_vs_live(ohlcv, spec) > 100


def test_training_and_live_observations_are_identical_bundled_close_only() -> None:
    from engine.config.schema import Config

    candles = load_candles(Config()).slice(0, 1200)
    spec = feature_spec(small_cfg(), candles)
    assert _train_vs_live(candles, spec) > 100


def test_trailing_window_rows_equal_full_history_rows(ohlcv: Candles) -> None:
    spec = feature_spec(FeaturesSection(), ohlcv)  # default windows (norm 288)
    full = compute_features(ohlcv, spec)
    for end in (spec.history, 700, ohlcv.n_bars):
        tail = compute_features(ohlcv.slice(end - spec.history, end), spec)
        np.testing.assert_array_equal(tail[spec.warmup:], full[end - spec.lookback:end])


def test_features_are_causal_and_bounded_by_warmup(ohlcv: Candles) -> None:
    spec = feature_spec(small_cfg(), ohlcv)
    base = compute_features(ohlcv, spec)
    t = 900
    future = ohlcv.close.copy()
    future[t + 1:] *= 1.5                      # change the future only
    past = ohlcv.close.copy()
    past[: t - spec.warmup] *= 0.5             # change bars older than the warmup only
    for close in (future, past):
        changed = Candles(ohlcv.times, ohlcv.tickers, close, ohlcv.open, ohlcv.high,
                          ohlcv.low, ohlcv.volume, ohlcv.timeframe)
        np.testing.assert_array_equal(compute_features(changed, spec)[t], base[t])
    # ...and the features do react to the bars they are allowed to see.
    recent = ohlcv.close.copy()
    recent[t] *= 1.05
    changed = Candles(ohlcv.times, ohlcv.tickers, recent, ohlcv.open, ohlcv.high, ohlcv.low,
                      ohlcv.volume, ohlcv.timeframe)
    assert not np.array_equal(compute_features(changed, spec)[t], base[t])


def _scaled(c: Candles, rows: slice, by: float, ranges: bool = True) -> Candles:
    """The candles with the fields of `rows` scaled (volume the other way; open, high and
    low only with `ranges`)."""
    def f(x: np.ndarray | None, k: float) -> np.ndarray | None:
        if x is None:
            return None
        y = x.copy()
        y[rows] *= k
        return y

    close = f(c.close, by)
    assert close is not None
    k = by if ranges else 1.0
    return Candles(c.times, c.tickers, close, f(c.open, k), f(c.high, k), f(c.low, k),
                   f(c.volume, 1 / by), c.timeframe)


@pytest.mark.parametrize("name", ALL_INDICATORS)
def test_each_indicator_reads_exactly_its_declared_window(ohlcv: Candles, name: str) -> None:
    """INDICATORS says how far back each raw value reads; the sim's replay start, the live
    history and the warmup all follow from it (longest_history). An indicator that grew its
    window without saying so fails here."""
    need, t = INDICATORS[name][0], 900
    base = _raw_indicator(name, ohlcv)[t]
    assert np.isfinite(base).all()
    older = _raw_indicator(name, _scaled(ohlcv, slice(0, t - need), 0.5))[t]
    np.testing.assert_array_equal(older, base)          # nothing before the window counts
    edge = _raw_indicator(name, _scaled(ohlcv, slice(t - need, t - need + 1), 0.5,
                                        ranges=False))[t]
    assert not np.array_equal(edge, base)               # ...and its oldest bar does
    assert need + 64 - 1 + 3 <= longest_history(3, 64)


def test_longest_history_covers_every_spec() -> None:
    longest = max(need for need, _ in INDICATORS.values())
    assert longest_history(4, 288) == longest + 288 - 1 + 4
    for name in ALL_INDICATORS:
        assert FeatureSpec((name,), (), 4, 288, 1.0).history <= longest_history(4, 288)


def test_rows_before_warmup_are_zero_and_values_clipped(ohlcv: Candles) -> None:
    spec = feature_spec(small_cfg(), ohlcv)
    feats = compute_features(ohlcv, spec)
    assert feats.dtype == np.float32 and feats.shape == (ohlcv.n_bars, 3, len(ALL_INDICATORS))
    assert first_valid_index(spec) == spec.warmup == 33 + 64 - 1
    assert not feats[: spec.warmup].any()
    assert np.abs(feats[spec.warmup:]).max() <= spec.clip
    assert np.abs(feats[spec.warmup:]).mean() > 0.2   # normalised, not degenerate


def test_close_only_data_drops_volume_and_range_indicators_explicitly(ohlcv: Candles) -> None:
    close_only = Candles(ohlcv.times, ohlcv.tickers, ohlcv.close, timeframe="5m")
    spec = feature_spec(small_cfg(), close_only)
    assert spec.dropped == ("atr_14", "hl_range", "volume_z")
    assert "volume_z" not in spec.indicators and "ret_1" in spec.indicators
    assert spec.to_dict()["dropped"] == ["atr_14", "hl_range", "volume_z"]
    # A model trained on OHLCV cannot silently run on close-only data.
    with pytest.raises(DataError, match="high, low, volume"):
        compute_features(close_only, feature_spec(small_cfg(), ohlcv))
    only_volume = small_cfg(indicators=["volume_z"])
    with pytest.raises(DataError, match="no usable indicator"):
        feature_spec(only_volume, close_only)


def test_spec_round_trip_and_obs_dim(ohlcv: Candles) -> None:
    spec = feature_spec(small_cfg(indicators=["ret_1", "rsi_14"]), ohlcv)
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    assert obs_dim(spec, 3) == 1 + 3 + 3 * 3 * 2


def test_observation_state_part_by_hand() -> None:
    window = np.arange(2 * 2 * 1, dtype=np.float32).reshape(2, 2, 1)
    obs = observation(window, cash=500.0, holdings=np.array([2.0, 0.0]),
                      prices=np.array([250.0, 10.0]), initial_cash=1000.0)
    # equity = 500 + 2*250 = 1000: cash/initial 0.5, asset weights 0.5 and 0.
    np.testing.assert_array_equal(obs, np.array([0.5, 0.5, 0.0, 0, 1, 2, 3], np.float32))


@pytest.mark.parametrize("w", [1, 2, 3, 5, 8, 13, 64, 100])
def test_rolling_sum_matches_naive(w: int) -> None:
    x = np.random.default_rng(w).normal(size=(200, 3))
    got = _rolling_sum(x, w)
    assert np.isnan(got[: w - 1]).all()
    naive = np.array([x[t - w + 1:t + 1].sum(axis=0) for t in range(w - 1, 200)])
    np.testing.assert_allclose(got[w - 1:], naive, rtol=1e-12, atol=1e-12)


def test_a_close_only_model_runs_on_ohlcv_candles(ohlcv: Candles) -> None:
    from engine.features import missing_fields

    close_only = Candles(ohlcv.times, ohlcv.tickers, ohlcv.close, timeframe="5m")
    trained = feature_spec(small_cfg(), close_only)
    assert missing_fields(trained, ohlcv) == set()
    np.testing.assert_array_equal(compute_features(ohlcv, trained),
                                  compute_features(close_only, trained))
    full = feature_spec(small_cfg(), ohlcv)
    assert missing_fields(full, close_only) == {"high", "low", "volume"}
