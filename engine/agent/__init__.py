"""PPO agent: hyperparameters and the CleanRL-style trainer."""
