"""A synthetic market with a planted, learnable edge (and its pure-noise twin).

The test of the whole research loop: PPO trained through the real study on this market
must pass the paper gates, and the same study on the noise twin must be refused.

Regimes last `regime_bars` to 2 × `regime_bars` bars; in each one ticker (chosen at random,
never the same twice running) drifts up by `drift` a bar while the others have no drift.
Every ticker has i.i.d. Gaussian log-returns of sd `vol` a bar. The features the env already
computes (ret_24, macd: trend over the last 24 to 26 bars) reveal which ticker trends, a few
dozen bars into each regime; an agent that holds it earns drift / 2 a bar over the
equal-weight portfolio with 2 tickers, far above a round trip's paper costs (1.22 %) per
regime. `drift = 0` is the noise twin: the same volatility and regimes, nothing to learn.
Static weights cannot earn it (each ticker trends as often as the others), so the static
tilt and buy-and-hold baselines stay near zero.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.data.candles import Candles, bar_seconds
from engine.data.synthetic import END_TIME


def edge_candles(tickers: tuple[str, ...] = ("AAA-USD", "BBB-USD"), n_bars: int = 6000,
                 drift: float = 2e-3, vol: float = 4e-3, regime_bars: int = 250,
                 seed: int = 0, timeframe: str = "5m") -> Candles:
    if n_bars < 2 or len(tickers) < 2 or regime_bars < 1:
        raise ValueError("edge_candles needs n_bars >= 2, two tickers and regime_bars >= 1")
    rng = np.random.default_rng(seed)
    n = len(tickers)
    mu = np.zeros((n_bars, n))
    t, last = 0, -1
    while t < n_bars:
        length = int(rng.integers(regime_bars, 2 * regime_bars + 1))
        up = int(rng.choice([i for i in range(n) if i != last]))
        mu[t:t + length, up] = drift
        t, last = t + length, up
    logret = mu + rng.normal(0.0, vol, (n_bars, n)) - 0.5 * vol**2
    logret[0] = 0.0
    close = 100.0 * np.exp(np.cumsum(logret, axis=0))
    sec = bar_seconds(timeframe)
    times = END_TIME - sec * np.arange(n_bars, 0, -1, dtype=np.int64)
    return Candles(times=times, tickers=tuple(tickers), close=close, timeframe=timeframe)


def write_csv(candles: Candles, path: Path) -> Path:
    """A wide close-only CSV (`timestamp,<TICKER>...`), what `[data] source = "csv"` reads."""
    import pandas as pd

    df = pd.DataFrame(candles.close, columns=list(candles.tickers))
    df.insert(0, "timestamp", pd.to_datetime(candles.times, unit="s", utc=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    df.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


# The planted-edge study: small on purpose (3 CPCV splits, all of them, x 2 seeds + the final
# fit), paper costs, two features that reveal the regime. Every other setting is the default
# unless a caller adds lines to a section.
STUDY_TOML = """{head}
[data]
source = "csv"
path = "market.csv"
tickers = ["AAA-USD", "BBB-USD"]
min_bars = 100
[features]
norm_window = 300
indicators = ["ret_24", "macd"]
lookback = 1
[env]
costs_from = "paper"
{env}
[study]
seed = {seed}
cpcv_groups = 3
cpcv_test_groups = 1
embargo_bars = 10
max_splits = 0
seeds = 2
holdout_frac = 0.15
{study}
[ppo]
total_steps = {steps}
n_envs = 16
n_steps = 64
minibatch = 256
episode_len = 256
{ppo}
"""


def write_study(root: Path, seed: int, steps: int, drift: float, *, head: str = "",
                env: str = "", study: str = "", ppo: str = "") -> Path:
    """Write the planted-edge market (or, with drift 0, its noise twin) as `market.csv` and
    the study's `cappuccino.toml` into root; `head`, `env`, `study` and `ppo` are extra TOML
    lines (head: sections before [data]). Returns the config's path."""
    root.mkdir(parents=True, exist_ok=True)
    write_csv(edge_candles(n_bars=8000, drift=drift, vol=2e-3, regime_bars=150, seed=seed),
              root / "market.csv")
    cfg = root / "cappuccino.toml"
    cfg.write_text(STUDY_TOML.format(head=head, env=env, seed=seed, study=study, steps=steps,
                                     ppo=ppo), encoding="utf-8")
    return cfg
