"""A seeded synthetic multi-asset OHLCV generator (tests, benchmarks, the offline demo).

Returns are log-normal with a one-factor correlation structure (every asset loads on a
common "market" factor, rho ~ 0.6) and a three-state Markov volatility regime (calm,
normal, turbulent) shared by all assets, so volatility clusters and changes over time.
Open is the previous close; high/low bracket open and close with a random wick; volume
rises with the absolute return and the regime. The same (tickers, n_bars, timeframe,
seed) always gives the same candles.
"""

from __future__ import annotations

import hashlib

import numpy as np

from engine.data.candles import Candles, bar_seconds

# The series ends here (2024-01-01T00:00Z), so times are reproducible and look real.
END_TIME = 1_704_067_200
_START_PRICES = {"BTC": 40_000.0, "ETH": 2_500.0, "SOL": 100.0, "LINK": 15.0, "LTC": 70.0,
                 "AVAX": 35.0, "UNI": 6.0, "AAVE": 100.0, "NEAR": 3.0, "MATIC": 0.9}
# Regimes: per-bar volatility multiplier and the probability of leaving the state per bar.
_REGIME_VOL = np.array([0.5, 1.0, 2.5])
_REGIME_STAY = np.array([0.998, 0.997, 0.99])
_DAILY_VOL = 0.035
_MARKET_RHO = 0.6


def _start_price(ticker: str) -> float:
    base = ticker.split("-")[0].upper()
    if base in _START_PRICES:
        return _START_PRICES[base]
    digest = int(hashlib.sha256(base.encode()).hexdigest()[:8], 16)
    return float(10 ** (digest % 500 / 100.0 - 1))  # 0.1 .. 1000, stable per name


def synthetic_candles(tickers: tuple[str, ...] | list[str], n_bars: int, timeframe: str = "5m",
                      seed: int = 7) -> Candles:
    tickers = tuple(tickers)
    if n_bars < 2 or not tickers:
        raise ValueError("synthetic_candles needs n_bars >= 2 and at least one ticker")
    rng = np.random.default_rng(seed)
    sec = bar_seconds(timeframe)
    n_assets = len(tickers)
    sigma = _DAILY_VOL * np.sqrt(sec / 86_400)

    # Regime path (shared): a Markov chain that moves to a uniformly chosen other state.
    regime = np.empty(n_bars, dtype=np.int64)
    leave = rng.random(n_bars)
    jump = rng.integers(1, 3, size=n_bars)
    state = 1
    for t in range(n_bars):
        if leave[t] > _REGIME_STAY[state]:
            state = (state + jump[t]) % 3
        regime[t] = state
    vol = sigma * _REGIME_VOL[regime][:, None]

    market = rng.standard_normal((n_bars, 1))
    idio = rng.standard_normal((n_bars, n_assets))
    z = np.sqrt(_MARKET_RHO) * market + np.sqrt(1 - _MARKET_RHO) * idio
    drift = rng.normal(0.0, 0.3 / n_bars, size=n_assets)  # trends of about ±30% per series
    logret = drift + vol * z - 0.5 * vol**2
    logret[0] = 0.0

    p0 = np.array([_start_price(t) for t in tickers])
    close = p0 * np.exp(np.cumsum(logret, axis=0))
    open_ = np.empty_like(close)
    open_[0] = close[0]
    open_[1:] = close[:-1]
    wick_hi = np.abs(rng.standard_normal((n_bars, n_assets))) * vol * 0.5
    wick_lo = np.abs(rng.standard_normal((n_bars, n_assets))) * vol * 0.5
    high = np.maximum(open_, close) * np.exp(wick_hi)
    low = np.minimum(open_, close) * np.exp(-wick_lo)
    base_volume = 1e6 / p0  # about a million quote units per bar
    volume = base_volume * np.exp(rng.normal(0, 0.3, (n_bars, n_assets))) * (
        1 + 20 * np.abs(logret) / sigma * 0.05) * _REGIME_VOL[regime][:, None]

    times = END_TIME - sec * np.arange(n_bars, 0, -1, dtype=np.int64)
    return Candles(times=times, tickers=tickers, close=close, open=open_, high=high, low=low,
                   volume=volume, timeframe=timeframe)
