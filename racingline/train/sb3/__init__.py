"""Speed-ups that copy Stable-Baselines3 internals, kept together, each with an equivalence test.

- :mod:`.ppo`: ``FastPPO``, SB3's PPO with a NumPy rollout loop (writes SB3's rollout buffer directly).
- :mod:`.policies`: ``FastActorCriticPolicy``, the rollout forward pass of SB3's MLP policy in NumPy.
- :mod:`.vec_env`: ``SplitVecEnv``, SB3's ``SubprocVecEnv`` with env 0 in the trainer (SB3's ``_worker``).

Tested against stable-baselines3 and gymnasium in the ranges pinned in ``pyproject.toml``
(``tests/train/sb3/``): a new minor release of either must pass those tests before the pin moves.
"""
