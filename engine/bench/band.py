"""The no-trade band against learnability: the measurements behind `[env] no_trade_band`.

Not timed, so not a `cappuccino bench` module: `python -m engine.bench.band` prints one JSON
line per setting.

- random_week_cost: the fees and spread a random policy (an untrained actor's mean plus the
  exploration noise, drawn every `hold` bars as PPO's noise_hold) pays per week on the bundled data's last three
  weeks, as a fraction of the capital (tests/engine/env/test_holding.py's method).
- edge_trial: one study trial (every CPCV split x seed + the final fit, paper costs) on the
  planted-edge market (engine.study.edge_market) at fixed hyperparameters: its objective
  and held-out active Sharpe. A band that hides the reward of trading from PPO's
  exploration leaves the objective near or below zero.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

WEEK = 2016  # 5-minute bars

def random_week_cost(band: float, log_std: float, seeds: int = 3, hold: int = 1) -> list[float]:
    """Per (week, seed): fees / capital of a random policy over one of the last 3 weeks."""
    import torch

    from engine.agent.policy import numpy_policy
    from engine.config import Config
    from engine.data.load import load_candles
    from engine.env.backtest import backtest
    from engine.features import compute_features, feature_spec, obs_dim
    from engine.model.network import Actor

    cfg = Config()
    env = cfg.env.model_copy(update={"no_trade_band": band})
    candles = load_candles(cfg)
    spec = feature_spec(cfg.features, candles)
    std = float(np.exp(log_std))
    out = []
    for k in range(3):
        hi = candles.n_bars - k * WEEK
        part = candles.slice(hi - WEEK - spec.history - 1, hi)
        feats = compute_features(part, spec)
        n = part.n_assets
        for seed in range(seeds):
            torch.manual_seed(seed)
            mean = numpy_policy(Actor(obs_dim(spec, n), n, cfg.ppo.hidden, log_std))
            rng = np.random.default_rng(seed)

            held: list[np.ndarray] = []   # the noise of each bar so far

            def act(obs: np.ndarray) -> np.ndarray:
                fresh = len(held) % hold == 0  # noqa: B023
                held.append(rng.normal(0.0, std, (1, n)) if fresh else held[-1])  # noqa: B023
                out: np.ndarray = mean(obs) + held[-1]  # noqa: B023
                return out

            res = backtest(act, part.close, feats, spec, env, start=part.n_bars - WEEK - 1)
            out.append(float(res.fees / env.initial_cash))
    return out


def edge_trial(band: float, log_std: float, seed: int, steps: int = 8192, lr: float = 1e-3,
               drift: float = 2e-3, extra_env: str = "", hold: int = 1) -> dict[str, Any]:
    """One trial of the planted-edge study at fixed hyperparameters."""
    from engine.agent.hyperparams import Hyperparams
    from engine.config.load import load_config
    from engine.study.edge_market import write_study
    from engine.study.objective import TrialRunner, prepare_data

    with tempfile.TemporaryDirectory() as tmp:
        path = write_study(Path(tmp), seed, steps, drift,
                           env=f"no_trade_band = {band}\n{extra_env}",
                           ppo=f"init_log_std = {log_std}\nlr = {lr}\nnoise_hold = {hold}")
        cfg = load_config(path, environ={})
        data = prepare_data(cfg)
        res = TrialRunner(cfg, data, Hyperparams.from_config(cfg.ppo), seed=seed).run()
    return {"band": band, "init_log_std": log_std, "noise_hold": hold, "seed": seed,
            "steps": steps, "lr": lr,
            "extra_env": extra_env, "objective": round(float(res["objective"]), 2),
            "seed_scores": [round(float(s), 1) for s in res["seed_scores"]],
            "holdout_active_sharpe": round(float(res["holdout_active_sharpe"]), 1),
            "holdout_trades": int(res["holdout_trades"])}


def main() -> None:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(prog="python -m engine.bench.band")
    ap.add_argument("--bands", default="0.1,0.2,0.3,0.5")
    ap.add_argument("--log-stds", default="-2.5,-1.5")
    ap.add_argument("--seeds", default="5,6,7")
    ap.add_argument("--steps", type=int, default=8192)
    ap.add_argument("--extra-env", default="", help="more [env] lines for the edge trials")
    ap.add_argument("--holds", default="1", help="[ppo] noise_hold values")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--skip", choices=("cost", "edge"), default=None)
    a = ap.parse_args()
    bands = [float(x) for x in a.bands.split(",")]
    stds = [float(x) for x in a.log_stds.split(",")]
    holds = [int(x) for x in a.holds.split(",")]
    for hold, log_std, band in ((h, s, b) for h in holds for s in stds for b in bands):
            if a.skip != "cost":
                c = random_week_cost(band, log_std, hold=hold)
                print(json.dumps({"band": band, "init_log_std": log_std, "noise_hold": hold,
                                  "random_week_cost_max": round(max(c), 5),
                                  "random_week_cost_mean": round(float(np.mean(c)), 5)}),
                      flush=True)
            if a.skip != "edge":
                for seed in (int(s) for s in a.seeds.split(",")):
                    print(json.dumps(edge_trial(band, log_std, seed, a.steps, a.lr,
                                                extra_env=a.extra_env.replace("\\n", "\n"),
                                                hold=hold)),
                          flush=True)


if __name__ == "__main__":
    main()
