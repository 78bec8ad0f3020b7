"""Population training: K PPO members (configuration, seed, CPCV split) at once on one device."""
