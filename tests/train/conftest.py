"""Fixtures of the training tests: a real, tiny PPO model on a real environment."""

from __future__ import annotations

import pytest

#: Steps per episode of the tiny model's env: several episodes end within a few hundred steps.
EPISODE_STEPS = 50
#: Steps per PPO rollout of the tiny model.
N_STEPS = 64


@pytest.fixture
def tiny_ppo():
    """An untrained SB3 PPO (rollouts of ``N_STEPS``, one epoch, a 16-unit net) on one feature-observation
    ``rounded_rectangle`` env (``Monitor`` -> ``DummyVecEnv`` -> ``VecNormalize``), on one CPU thread."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    import racingline

    def make():
        env = racingline.make_env("rounded_rectangle", obs="features", continuous=True,
                                  max_episode_steps=EPISODE_STEPS)
        return Monitor(env, info_keywords=("progress", "lap_complete"))

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    venv = VecNormalize(DummyVecEnv([make]), norm_obs=True, norm_reward=True)
    venv.seed(0)
    model = PPO("MlpPolicy", venv, n_steps=N_STEPS, batch_size=32, n_epochs=1, seed=0, device="cpu",
                policy_kwargs={"net_arch": [16]})
    try:
        yield model
    finally:
        venv.close()
        torch.set_num_threads(threads)
