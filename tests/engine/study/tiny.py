"""The tiny, fast study config both the study and the population tests run:
synthetic candles, short features, 2 CPCV splits."""

from __future__ import annotations

import torch

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
workers = 2
[ppo]
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

# The population tests run one trial per process and a fixed PPO shape (no search).
POPULATION_TINY = TINY.replace("workers = 2\n", "").replace("[ppo]\n", "[ppo]\nsearch = false\n")

torch.set_num_threads(1)  # as every Cappuccino process (engine.device.setup_torch)
