"""FastPPO: Stable-Baselines3's PPO with a leaner rollout loop.

With a fast env, SB3's ``collect_rollouts`` spends as long per step on its own bookkeeping as on the
policy: a torch tensor is made from the observations, the policy module is called through torch's hooks,
its outputs are copied back to NumPy, and ``RolloutBuffer.add`` copies everything again. For a
:class:`~racingline.train.sb3.policies.FastActorCriticPolicy` whose rollout pass runs in NumPy, :class:`FastPPO`
does the same steps with NumPy arrays end to end: the same actions (the same random draws), the same
callback calls, episode-info buffer, time-limit bootstrapping and buffer contents
(``tests/test_ppo.py`` compares whole rollouts and updates with SB3's loop). Training (``train``), saving
and loading are SB3's: a saved FastPPO loads with ``PPO.load``. Other policies use SB3's loop.
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv

from racingline.train.sb3.policies import FastActorCriticPolicy

__all__ = ["FastPPO"]


class FastPPO(PPO):
    """SB3's ``PPO``; ``collect_rollouts`` runs in NumPy where the policy allows it (see the module notes)."""

    def restart_rollouts(self) -> None:
        """Start the next rollout from a fresh reset of the envs, not the observation saved with the model."""
        self._last_obs = None

    def collect_rollouts(self, env: VecEnv, callback: BaseCallback, rollout_buffer: RolloutBuffer,
                         n_rollout_steps: int) -> bool:
        policy = self.policy
        plan = None
        if isinstance(policy, FastActorCriticPolicy) and type(rollout_buffer) is RolloutBuffer \
                and isinstance(self._last_obs, np.ndarray):
            plan = policy.numpy_rollout_plan()
        if plan is None:
            return super().collect_rollouts(env, callback, rollout_buffer, n_rollout_steps)

        policy.set_training_mode(False)
        n_steps = 0
        rollout_buffer.reset()
        callback.on_rollout_start()
        box = isinstance(self.action_space, spaces.Box)
        discrete = isinstance(self.action_space, spaces.Discrete)
        low, high = (self.action_space.low, self.action_space.high) if box else (None, None)
        n_envs = env.num_envs
        buf = rollout_buffer
        new_obs = dones = None
        while n_steps < n_rollout_steps:
            actions, values, log_probs = policy.numpy_rollout_step(plan, self._last_obs)
            clipped_actions = np.clip(actions, low, high) if box else actions
            new_obs, rewards, dones, infos = env.step(clipped_actions)
            self.num_timesteps += n_envs

            callback.update_locals(locals())
            if not callback.on_step():
                return False
            self._update_info_buffer(infos, dones)
            n_steps += 1
            if discrete:
                actions = actions.reshape(-1, 1)

            # Episodes cut by a time limit: bootstrap with the value of the terminal observation (SB3 #633).
            for idx in np.flatnonzero(dones):
                info = infos[idx]
                if info.get("terminal_observation") is not None and info.get("TimeLimit.truncated", False):
                    terminal_obs = policy.obs_to_tensor(info["terminal_observation"])[0]
                    with torch.no_grad():
                        terminal_value = policy.predict_values(terminal_obs)[0]
                    rewards[idx] += self.gamma * terminal_value

            pos = buf.pos
            buf.observations[pos] = self._last_obs
            buf.actions[pos] = actions.reshape(n_envs, buf.action_dim)
            buf.rewards[pos] = rewards
            buf.episode_starts[pos] = self._last_episode_starts
            buf.values[pos] = values.reshape(-1)
            buf.log_probs[pos] = log_probs
            buf.pos = pos + 1
            if buf.pos == buf.buffer_size:
                buf.full = True
            self._last_obs = new_obs
            self._last_episode_starts = dones

        with torch.no_grad():
            values = policy.predict_values(obs_as_tensor(new_obs, self.device))
        rollout_buffer.compute_returns_and_advantage(last_values=values, dones=dones)
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True
