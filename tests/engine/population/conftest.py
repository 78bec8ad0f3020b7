"""A tiny study config for population tests (the study tests' TINY, without the search)."""

from __future__ import annotations

import pytest

from engine.data.synthetic import synthetic_candles
from engine.study.objective import prepare_data

TINY = """
[data]
source = "synthetic"
synthetic_bars = 3000
tickers = ["BTC-USD", "ETH-USD", "SOL-USD"]
[features]
norm_window = 50
[study]
cpcv_groups = 4
cpcv_test_groups = 1
embargo_bars = 10
max_splits = 2
seeds = 1
[ppo]
search = false
total_steps = 2048
n_envs = 16
n_steps = 32
minibatch = 256
episode_len = 128
[trials]
checkpoint_every = 2
keep_checkpoints = 3
retry_wait_s = 0
poll_s = 0.2
[supervisor]
heartbeat_s = 0.5
"""

import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def tiny(make_config):  # type: ignore[no-untyped-def]
    cfg = make_config(TINY)
    return cfg, prepare_data(cfg, synthetic_candles(cfg.data.tickers, 3000, "5m", 7))
