"""Backtest benchmark.

backtest_50k_bars_s  seconds to backtest one model (hidden 64) over 50,000 bars × 7 assets
                     with engine.env.backtest and the numpy policy (engine.agent.policy),
                     1 torch thread. Goal <= 2 s. Baseline, measured in the same run: the
                     same backtest driving the torch actor directly (value/baseline < 1 is
                     the numpy policy's gain). --quick measures 10,000 bars and scales to
                     50,000 (said in the note).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import cast

from engine.bench import Result

TICKERS = ("BTC-USD", "ETH-USD", "SOL-USD", "LINK-USD", "LTC-USD", "AVAX-USD", "UNI-USD")
BARS = 50_000


def run(quick: bool, workdir: Path) -> dict[str, Result]:
    import numpy as np
    import torch

    from engine.agent.policy import numpy_policy
    from engine.config.schema import EnvSection, FeaturesSection
    from engine.data.synthetic import synthetic_candles
    from engine.env.backtest import backtest
    from engine.features import compute_features, feature_spec, first_valid_index, obs_dim
    from engine.model.network import Actor

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        spec0 = feature_spec(FeaturesSection(), synthetic_candles(TICKERS, 400, "5m", seed=5))
        warm = first_valid_index(spec0) + spec0.lookback
        bars = (10_000 if quick else BARS) + warm
        candles = synthetic_candles(TICKERS, bars, "5m", seed=5)
        spec = feature_spec(FeaturesSection(), candles)
        feats = compute_features(candles, spec)
        torch.manual_seed(0)
        actor = Actor(obs_dim(spec, len(TICKERS)), len(TICKERS), 64)
        with torch.no_grad():
            # a model that trades, not a near-zero init (mlp() ends in a Linear layer)
            cast(torch.nn.Linear, actor.net[-1]).weight.mul_(100.0)

        def torch_act(obs: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return actor.mean(torch.from_numpy(obs)).numpy()

        t0, c0 = time.perf_counter(), time.process_time()
        n = len(backtest(numpy_policy(actor), candles.close, feats, spec, EnvSection()).equity)
        fast, fast_cpu = time.perf_counter() - t0, time.process_time() - c0
        base_bars = min(n, 5_000)  # the slow baseline on a slice, scaled (it is linear)
        t0 = time.perf_counter()
        backtest(torch_act, candles.close, feats, spec, EnvSection(), stop=warm + base_bars)
        slow = (time.perf_counter() - t0) * BARS / base_bars
        scale = BARS / n
        note = (f"{n} bars measured" + (f", scaled ×{scale:.1f} to 50,000" if quick else "")
                + f"; baseline: torch actor per bar, {base_bars} bars scaled to 50,000"
                + f"; CPU seconds of this process: {fast_cpu * scale:.2f} (an unshared core)")
        return {"backtest_50k_bars_s": Result(round(fast * scale, 3), "s",
                                              baseline=round(slow, 3), note=note)}
    finally:
        torch.set_num_threads(threads)
