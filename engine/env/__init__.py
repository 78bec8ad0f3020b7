"""Portfolio environments: the torch vectorised env, the backtester built on it, and a
FinRL-style per-env loop kept only as the benchmark baseline."""
