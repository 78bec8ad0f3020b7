"""A throwaway installation for the soak: config on synthetic data, a tiny model, helpers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, cast

from engine.config import Config, load_config

TICKERS = ("BTC-USD", "ETH-USD")
ROOT = Path(__file__).resolve().parents[2]

# Fast replay, strong actions and loose risk limits: many orders and fills per second.
CONFIG = """
[data]
source = "synthetic"
synthetic_bars = 3000
[features]
lookback = 2
norm_window = 20
[conviction]
volatility_window = 20
momentum_window = 12
min_score = 0.3
[risk]
max_order_notional = 150
max_position_pct = 60
daily_loss_pct = 50
[trader]
replay_speed = 200
poll_s = 0.05
notify_fills = false
"""


def make_workdir(root: Path, extra: str = "") -> Config:
    """Config (everything under `root`) and a model in root/model; returns the config."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "cappuccino.toml"
    path.write_text(CONFIG + extra)
    cfg = load_config(path, environ={})
    tiny_model(root / "model", cfg)
    return cfg


def tiny_model(directory: Path, cfg: Config, seed: int = 0, scale: float = 100.0) -> Path:
    """An untrained actor with strong actions (a stress input, not a strategy)."""
    import torch

    from engine.data.synthetic import synthetic_candles
    from engine.features import feature_spec, obs_dim
    from engine.model.artifact import ModelSpec, save_model
    from engine.model.network import Actor

    candles = synthetic_candles(TICKERS, 200, "5m", seed=cfg.data.seed)
    fs = feature_spec(cfg.features, candles)
    torch.manual_seed(seed)
    actor = Actor(obs_dim(fs, len(TICKERS)), len(TICKERS), 16)
    with torch.no_grad():
        cast(torch.nn.Linear, actor.net[-1]).weight.mul_(scale)  # mlp() ends in a Linear layer
    spec = ModelSpec(tickers=TICKERS, timeframe="5m", obs_dim=obs_dim(fs, len(TICKERS)),
                     act_dim=len(TICKERS), hidden=16, features=fs.to_dict(),
                     env=cfg.env.model_dump(), data_fingerprint=candles.fingerprint(),
                     study="soak", trial=0)
    return save_model(directory, actor.state_dict(), spec, {}, {"sharpe": 0.0})


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def cli(cfg_path: Path, *args: str, log: Path | None = None,
        stdout: int | None = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    """`cappuccino --config cfg ARGS` as a child process (stderr to `log` when given)."""
    err: IO[bytes] | int = log.open("ab") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--config",
                                 str(cfg_path), *args], cwd=ROOT, env=child_env(),
                                stdin=subprocess.DEVNULL, stdout=stdout, stderr=err)
    finally:
        if not isinstance(err, int):
            err.close()


def trader(cfg_path: Path, name: str, log: Path) -> subprocess.Popen[bytes]:
    return cli(cfg_path, "trade", "--name", name, "--model", str(cfg_path.parent / "model"),
               "--broker", "sim", "--tickers", ",".join(TICKERS), log=log)


def wait_for(cond: Callable[[], bool], timeout_s: float, poll_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(poll_s)
    return cond()


def stop(p: subprocess.Popen[bytes], timeout_s: float = 60) -> int | None:
    """SIGTERM, then SIGKILL after timeout_s; the exit code."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
    return p.returncode


def tail(log: Path, n: int = 2000) -> str:
    try:
        return log.read_text(errors="replace")[-n:]
    except OSError:
        return ""
