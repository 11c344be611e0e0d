"""SplitVecEnv: some envs stepped in this process while subprocess workers step the rest.

SB3's ``SubprocVecEnv`` leaves the training process idle while its workers step, then the workers idle
while it runs the policy. With as many envs as cores (``racingline bench``'s 2 envs on 2 cores) that
wastes a core. ``SplitVecEnv`` steps its first ``n_local`` envs in this process, between sending the
actions to the workers and reading their results, so both cores work during the env step. Seeds, order
and results are the same as ``DummyVecEnv``'s or ``SubprocVecEnv``'s for the same env functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices

__all__ = ["SplitVecEnv"]


class SplitVecEnv(VecEnv):
    """Envs ``0 .. n_local - 1`` in this process (``DummyVecEnv``), the others in workers (``SubprocVecEnv``).

    Args:
        env_fns: functions building the envs, in order.
        n_local: envs stepped in this process (at least 1; all of them if there are no more).
        start_method: ``multiprocessing`` start method of the workers.
    """

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]], n_local: int = 1,
                 start_method: str | None = None) -> None:
        if not env_fns:
            raise ValueError("env_fns: need at least one env")
        self.n_local = max(1, min(int(n_local), len(env_fns)))
        # Workers first, so they are forked before this process builds its own envs.
        rest = list(env_fns[self.n_local:])
        self.remote = SubprocVecEnv(rest, start_method=start_method) if rest else None
        self.local = DummyVecEnv(list(env_fns[: self.n_local]))
        super().__init__(len(env_fns), self.local.observation_space, self.local.action_space)
        if self.remote is not None and self.remote.observation_space != self.local.observation_space:
            raise ValueError("env_fns: the envs' observation spaces differ")

    # ------------------------------------------------------------------ stepping
    def _parts(self) -> list[VecEnv]:
        return [self.local] if self.remote is None else [self.local, self.remote]

    @staticmethod
    def _join(obs: list[Any]) -> Any:
        if isinstance(obs[0], dict):
            return {k: np.concatenate([o[k] for o in obs]) for k in obs[0]}
        return np.concatenate(obs)

    def reset(self):
        results = []
        for part in self._parts():
            results.append(part.reset())
        self.reset_infos = [info for part in self._parts() for info in part.reset_infos]
        self._reset_seeds()
        self._reset_options()
        return self._join(results)

    def step_async(self, actions: np.ndarray) -> None:
        k = self.n_local
        if self.remote is not None:
            self.remote.step_async(actions[k:])  # the workers start now ...
        self._actions = actions[:k]

    def step_wait(self):
        # ... while this process steps its own envs, as DummyVecEnv.step_wait does but without deep-copying
        # every info dict and observation (each step's are new objects already).
        local = self.local
        obs_list, rewards, dones, infos = [], [], [], []
        for i, env in enumerate(local.envs):
            obs, reward, terminated, truncated, info = env.step(self._actions[i])
            done = terminated or truncated
            info["TimeLimit.truncated"] = truncated and not terminated
            if done:
                info["terminal_observation"] = obs
                obs, local.reset_infos[i] = env.reset()
            obs_list.append(obs)
            rewards.append(reward)
            dones.append(done)
            infos.append(info)
        obs = np.stack(obs_list) if isinstance(obs_list[0], np.ndarray) \
            else {k: np.stack([o[k] for o in obs_list]) for k in obs_list[0]}
        rewards = np.array(rewards, dtype=np.float32)
        dones = np.array(dones, dtype=bool)
        if self.remote is None:
            return obs, rewards, dones, infos
        r_obs, r_rewards, r_dones, r_infos = self.remote.step_wait()
        return (self._join([obs, r_obs]), np.concatenate([rewards, r_rewards.astype(np.float32)]),
                np.concatenate([dones, r_dones]), infos + list(r_infos))

    def seed(self, seed: int | None = None) -> Sequence[None | int]:
        self.local.seed(seed)
        if self.remote is not None:
            self.remote.seed(None if seed is None else seed + self.n_local)
        return super().seed(seed)

    def set_options(self, options: list[dict] | dict | None = None) -> None:
        super().set_options(options)
        opts = self._options
        self.local.set_options(opts[: self.n_local])
        if self.remote is not None:
            self.remote.set_options(opts[self.n_local:])

    def close(self) -> None:
        for part in self._parts():
            part.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [img for part in self._parts() for img in part.get_images()]

    # ------------------------------------------------------------------ per-env access
    def _gather(self, method: str, indices: VecEnvIndices, *args: Any, **kwargs: Any) -> list[Any]:
        """``method`` of the local and the remote part for ``indices``; results in the order asked."""
        idx = list(self._get_indices(indices))
        k = self.n_local
        local = [i for i in idx if i < k]
        remote = [i - k for i in idx if i >= k]
        found: dict[int, Any] = {}
        if local:
            found.update(zip(local, getattr(self.local, method)(*args, indices=local, **kwargs) or [None] * len(local)))
        if remote:
            out = getattr(self.remote, method)(*args, indices=remote, **kwargs) or [None] * len(remote)
            found.update(zip((i + k for i in remote), out))
        return [found[i] for i in idx]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return self._gather("get_attr", indices, attr_name)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._gather("set_attr", indices, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        return self._gather("env_method", indices, method_name, *method_args, **method_kwargs)

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return self._gather("env_is_wrapped", indices, wrapper_class)
