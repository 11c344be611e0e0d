"""Training: config schema, PPO and its fast SB3 copies, vector envs, callbacks and run folders."""
