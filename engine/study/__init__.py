"""Optuna studies of PPO trials: metrics, CPCV, PBO, the objective, the driver and worker."""
