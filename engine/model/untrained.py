"""An untrained actor saved as a model: the stress input of the soak, the tests and the
demo-like fixtures (never a strategy)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from engine.config import Config
from engine.data.candles import Candles


def untrained_model(directory: Path, cfg: Config, tickers: tuple[str, ...], *,
                    candles: Candles | None = None, timeframe: str = "5m", seed: int = 0,
                    scale: float = 1.0, study: str = "s", trial: int = 0,
                    sharpe: float = 0.5) -> Path:
    """A 16-unit actor seeded with `seed`, saved in `directory`; returns the directory.

    The features are fitted on `candles` (default: 200 synthetic bars at cfg.data.seed).
    `scale` multiplies the last layer's weights: strong actions give the conviction filter
    and the risk engine work. `sharpe` is the metric the artifact records."""
    import torch

    from engine.data.synthetic import synthetic_candles
    from engine.features import feature_spec, obs_dim
    from engine.model.artifact import ModelSpec, save_model
    from engine.model.network import Actor

    if candles is None:
        candles = synthetic_candles(tickers, 200, timeframe, seed=cfg.data.seed)
    fs = feature_spec(cfg.features, candles)
    n = obs_dim(fs, len(tickers))
    torch.manual_seed(seed)
    actor = Actor(n, len(tickers), 16)
    with torch.no_grad():
        cast(torch.nn.Linear, actor.net[-1]).weight.mul_(scale)  # mlp() ends in a Linear layer
    spec = ModelSpec(tickers=tickers, timeframe=timeframe, obs_dim=n, act_dim=len(tickers),
                     hidden=16, features=fs.to_dict(), env=cfg.env.model_dump(),
                     data_fingerprint=candles.fingerprint(), study=study, trial=trial)
    return save_model(directory, actor.state_dict(), spec, {}, {"sharpe": sharpe})
