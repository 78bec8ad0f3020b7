"""The one feature pipeline: candles -> indicators -> rolling normalisation -> observations.

Training (engine.env), backtests and the live trader all call these functions, so a model
sees the same numbers everywhere (design.md, "train/serve parity").

Exactness. A feature row at bar t depends only on bars t - warmup .. t, and every rolling
statistic is a fixed-window sum built from a fixed tree of additions (see _rolling_sum),
never a cumulative sum over the whole history. Only +, -, *, /, sqrt and max are used
(IEEE-exact, so SIMD and scalar code agree; no log/exp whose results may differ between
vectorised and scalar code paths). Hence computing on the trailing `warmup + lookback`
bars (live) gives bit-identical rows to computing on the full history (training).

Indicators (per asset; names are the config vocabulary):
    ret_1, ret_6, ret_24   simple return over 1/6/24 bars: c_t / c_{t-h} - 1
    vol_24                 std of 1-bar returns over 24 bars
    rsi_14                 Cutler RSI over 14 bars, scaled to [-1, 1]
    macd                   SMA12 / SMA26 - 1
    macd_hist              macd - SMA9(macd)
    atr_14                 mean true range over 14 bars / close        (needs high, low)
    hl_range               (high - low) / close                        (needs high, low)
    volume_z               (v - mean24(v)) / std24(v)                  (needs volume)
Indicators whose inputs are missing (close-only data) are dropped and recorded in
FeatureSpec.dropped. Each raw indicator is then z-scored over `norm_window` bars and
clipped to ±clip. Rows before `warmup` are zeros (first_valid_index).

Observation layout (obs_dim = 1 + A + lookback*A*F), float32:
    [cash / initial_cash, holdings_a * price_a / equity for each asset a,
     features[t-lookback+1 .. t] flattened as (lookback, A, F), oldest first]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.data.candles import Candles, DataError

if TYPE_CHECKING:
    import torch

# name -> (bars of history the raw value needs, candle fields it needs besides close)
INDICATORS: dict[str, tuple[int, tuple[str, ...]]] = {
    "ret_1": (1, ()),
    "ret_6": (6, ()),
    "ret_24": (24, ()),
    "vol_24": (24, ()),
    "rsi_14": (14, ()),
    "macd": (25, ()),
    "macd_hist": (33, ()),
    "atr_14": (14, ("high", "low")),
    "hl_range": (0, ("high", "low")),
    "volume_z": (23, ("volume",)),
}
ALL_INDICATORS: tuple[str, ...] = tuple(INDICATORS)
_STD_FLOOR = 1e-12
_EQUITY_FLOOR = 1e-300   # only ever active at equity 0 (then every holding value is 0)


@dataclass(frozen=True)
class FeatureSpec:
    indicators: tuple[str, ...]
    dropped: tuple[str, ...]   # requested but dropped because the data lacks their inputs
    lookback: int
    norm_window: int
    clip: float

    def __post_init__(self) -> None:
        unknown = [n for n in self.indicators if n not in INDICATORS]
        if unknown:
            raise ValueError(f"unknown indicator(s): {', '.join(unknown)}")
        if not self.indicators:
            raise ValueError("a feature spec needs at least one indicator")
        if len(set(self.indicators)) != len(self.indicators):
            raise ValueError("indicators must not repeat")
        if self.lookback < 1 or self.norm_window < 1 or not self.clip > 0:
            raise ValueError("lookback and norm_window must be >= 1 and clip > 0")

    @property
    def n_features(self) -> int:
        return len(self.indicators)

    @property
    def warmup(self) -> int:
        """Bars of history before the first valid row (= index of the first valid row)."""
        return max(INDICATORS[n][0] for n in self.indicators) + self.norm_window - 1

    @property
    def history(self) -> int:
        """Bars the live path needs to build one observation: warmup + lookback."""
        return self.warmup + self.lookback

    def to_dict(self) -> dict[str, Any]:
        return {"indicators": list(self.indicators), "dropped": list(self.dropped),
                "lookback": self.lookback, "norm_window": self.norm_window,
                "clip": self.clip}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        return cls(indicators=tuple(d["indicators"]), dropped=tuple(d.get("dropped", ())),
                   lookback=int(d["lookback"]), norm_window=int(d["norm_window"]),
                   clip=float(d["clip"]))


def longest_history(lookback: int, norm_window: int) -> int:
    """The most bars one observation can need with this lookback and normalisation window:
    the history of a spec with every indicator, so the longest raw window in INDICATORS
    (tests/engine/test_features.py checks each indicator reads no further back than it
    declares). The sim starts its replay after it, whatever indicators the model uses."""
    return FeatureSpec(ALL_INDICATORS, (), lookback, norm_window, 1.0).history


def required_fields(indicators: tuple[str, ...] | list[str]) -> set[str]:
    return {f for n in indicators for f in INDICATORS[n][1]}


def feature_spec(cfg_features: Any, candles: Candles) -> FeatureSpec:
    """The spec for this [features] config and these candles; drops what the data cannot feed."""
    requested = tuple(dict.fromkeys(getattr(cfg_features, "indicators", ALL_INDICATORS)))
    present = {f for f in ("open", "high", "low", "volume") if getattr(candles, f) is not None}
    kept = tuple(n for n in requested if set(INDICATORS[n][1]) <= present)
    dropped = tuple(n for n in requested if n not in kept)
    if not kept:
        raise DataError(f"no usable indicator: {', '.join(requested)} all need fields the "
                        "data lacks (close-only data)")
    return FeatureSpec(indicators=kept, dropped=dropped, lookback=int(cfg_features.lookback),
                       norm_window=int(cfg_features.norm_window), clip=float(cfg_features.clip))


def missing_fields(spec: FeatureSpec, candles: Candles) -> set[str]:
    """Candle fields a spec's indicators need that these candles lack (empty: computable).

    A model's own spec is what its observations must be built with; a model trained on
    close-only data runs unchanged on OHLCV candles (its dropped indicators stay dropped).
    """
    present = {f for f in ("open", "high", "low", "volume") if getattr(candles, f) is not None}
    return required_fields(spec.indicators) - present


def first_valid_index(spec: FeatureSpec) -> int:
    """Index of the first feature row that is valid (rows before it are zeros)."""
    return spec.warmup


def obs_dim(spec: FeatureSpec, n_assets: int) -> int:
    return 1 + n_assets + spec.lookback * n_assets * spec.n_features


# ---------------------------------------------------------------- exact rolling windows

def _shift(x: np.ndarray, k: int) -> np.ndarray:
    """x delayed by k rows; the first k rows are NaN."""
    if k == 0:
        return x
    out = np.full_like(x, np.nan)
    if k < len(x):
        out[k:] = x[:-k]
    return out


def _rolling_sum(x: np.ndarray, w: int) -> np.ndarray:
    """Sum of rows t-w+1..t for each t (NaN where incomplete), along axis 0.

    Built from power-of-two partial sums (S_2m[t] = S_m[t] + S_m[t-m]), added to the
    result lowest bit of w first, so each output is the same fixed tree of additions over
    its own window whatever the array length: exact parity between a full history and a
    trailing slice, in O(T log w) time and O(T) extra memory instead of O(T w).
    """
    if w < 1:
        raise ValueError("window must be >= 1")
    out: np.ndarray | None = None
    offset = 0
    power, size = x, 1
    while True:
        if w & size:
            part = _shift(power, offset)
            out = part if out is None else out + part
            offset += size
        if size * 2 > w:
            break
        power = power + _shift(power, size)
        size *= 2
    assert out is not None
    return out


def _rolling_mean(x: np.ndarray, w: int) -> np.ndarray:
    return _rolling_sum(x, w) / w


def _rolling_std(x: np.ndarray, w: int) -> np.ndarray:
    mean = _rolling_mean(x, w)
    var = _rolling_mean(x * x, w) - mean * mean
    std: np.ndarray = np.sqrt(np.maximum(var, 0.0))
    return std


# ---------------------------------------------------------------- indicators

def _raw_indicator(name: str, c: Candles) -> np.ndarray:
    close = np.asarray(c.close, dtype=np.float64)   # no copy when already float64
    if name.startswith("ret_"):
        h = int(name[4:])
        ret: np.ndarray = close / _shift(close, h) - 1.0
        return ret
    if name == "vol_24":
        return _rolling_std(close / _shift(close, 1) - 1.0, 24)
    if name == "rsi_14":
        diff = close - _shift(close, 1)
        gain = _rolling_sum(np.maximum(diff, 0.0), 14)
        loss = _rolling_sum(np.maximum(-diff, 0.0), 14)
        total = gain + loss
        with np.errstate(invalid="ignore", divide="ignore"):
            rsi = np.where(total > 0, gain / total, 0.5)
        return np.where(np.isnan(total), np.nan, 2.0 * rsi - 1.0)
    if name in ("macd", "macd_hist"):
        macd: np.ndarray = _rolling_mean(close, 12) / _rolling_mean(close, 26) - 1.0
        return macd if name == "macd" else macd - _rolling_mean(macd, 9)
    if name == "atr_14":
        assert c.high is not None and c.low is not None
        high, low = np.asarray(c.high, np.float64), np.asarray(c.low, np.float64)
        prev = _shift(close, 1)
        tr = np.maximum(high - low, np.maximum(np.abs(high - prev), np.abs(low - prev)))
        return _rolling_mean(tr, 14) / close
    if name == "hl_range":
        assert c.high is not None and c.low is not None
        return (np.asarray(c.high, np.float64) - np.asarray(c.low, np.float64)) / close
    if name == "volume_z":
        assert c.volume is not None
        v = c.volume.astype(np.float64)
        std = _rolling_std(v, 24)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(std > _STD_FLOOR, (v - _rolling_mean(v, 24)) / std, 0.0)
    raise ValueError(f"unknown indicator {name!r}")


def compute_features(candles: Candles, spec: FeatureSpec) -> np.ndarray:
    """Features (T, A, F) float32; rows before spec.warmup are zeros."""
    missing = missing_fields(spec, candles)
    if missing:
        raise DataError(f"the features need {', '.join(sorted(missing))}, which the data "
                        "lacks (close-only data; the model was trained on OHLCV)")
    n_bars, n_assets = candles.close.shape
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.stack([_raw_indicator(n, candles) for n in spec.indicators], axis=-1)
        flat = raw.reshape(n_bars, n_assets * spec.n_features)
        mean = _rolling_mean(flat, spec.norm_window)
        std = np.sqrt(np.maximum(_rolling_mean(flat * flat, spec.norm_window) - mean * mean, 0))
        z = np.where(std > _STD_FLOOR, (flat - mean) / std, 0.0)
    z = np.clip(z, -spec.clip, spec.clip)
    z[: spec.warmup] = 0.0
    z[np.isnan(z)] = 0.0  # only reachable with unvalidated input; keep the model finite
    return z.reshape(n_bars, n_assets, spec.n_features).astype(np.float32)


# ---------------------------------------------------------------- observations

def _equity(cash: float, values: np.ndarray) -> float:
    # Sequential sum in asset order, the same order as observation_batch (exact parity).
    eq = cash
    for v in values:
        eq = eq + v
    return eq


def observation(features_window: np.ndarray, cash: float, holdings: np.ndarray,
                prices: np.ndarray, initial_cash: float) -> np.ndarray:
    """One observation (obs_dim,) float32 from the last `lookback` feature rows and the account.

    The live trader calls this with compute_features(trailing spec.history bars)[-lookback:].
    """
    values = np.asarray(holdings, dtype=np.float64) * np.asarray(prices, dtype=np.float64)
    eq = np.float64(_equity(np.float64(cash), values))
    window = np.asarray(features_window, dtype=np.float32).reshape(-1)
    n_state = 1 + len(values)
    out = np.empty(n_state + window.size, dtype=np.float32)
    out[0] = np.float64(cash) / np.float64(initial_cash)   # rounded to float32 on store
    out[1:n_state] = values / max(eq, _EQUITY_FLOOR)   # equity 0 -> weights 0
    out[n_state:] = window
    return out


def state_batch(cash: torch.Tensor, holdings: torch.Tensor, prices: torch.Tensor,
                initial_cash: float) -> torch.Tensor:
    """The state part of observation_batch (N, 1 + A) float32."""
    import torch

    values = holdings * prices
    eq = cash
    for a in range(values.shape[1]):  # sequential, in asset order: the same sum as _equity
        eq = eq + values[:, a]
    frac = values / eq.clamp(min=_EQUITY_FLOOR).unsqueeze(1)   # equity 0 -> weights 0
    return torch.cat([(cash / initial_cash).unsqueeze(1), frac], dim=1).to(torch.float32)


def observation_batch(window_flat: torch.Tensor, cash: torch.Tensor, holdings: torch.Tensor,
                      prices: torch.Tensor, initial_cash: float) -> torch.Tensor:
    """The batched torch twin of `observation` (N, obs_dim) float32, identical numbers.

    window_flat (N, lookback*A*F) float32; cash (N,), holdings and prices (N, A) float64.
    """
    import torch

    return torch.cat([state_batch(cash, holdings, prices, initial_cash), window_flat], dim=1)


def live_observation(candles: Candles, spec: FeatureSpec, cash: float, holdings: np.ndarray,
                     initial_cash: float) -> np.ndarray:
    """The live path in one call: features on the trailing spec.history bars -> observation.

    Prices are the last closes. Raises DataError if fewer than spec.history bars are given.
    """
    if candles.n_bars < spec.history:
        raise DataError(f"need {spec.history} bars of history for one observation, "
                        f"got {candles.n_bars}")
    tail = candles.slice(candles.n_bars - spec.history, None)
    feats = compute_features(tail, spec)
    return observation(feats[-spec.lookback:], cash, holdings, tail.close[-1], initial_cash)
