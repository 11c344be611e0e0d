"""SplitVecEnv: some envs stepped in this process while subprocess workers step the rest.

SB3's ``SubprocVecEnv`` leaves the training process idle while its workers step, then the workers idle
while it runs the policy. With as many envs as cores (``racingline bench``'s 2 envs on 2 cores) that
wastes a core. ``SplitVecEnv`` steps its first ``n_local`` envs in this process, between sending the
actions to the workers and reading their results, so both cores work during the env step. Seeds, order
and results are the same as ``DummyVecEnv``'s or ``SubprocVecEnv``'s for the same env functions.

Waiting on a pipe costs more than the message: a process that blocks in ``recv`` lets its CPU idle, and on
a virtual machine waking it again takes ~100 us, against a ~300 us feature env step. When every process
has a core of its own (workers + 1 <= CPUs), the workers and the trainer therefore poll their pipes for a
short while (``SPIN_SECONDS``) before blocking: measured on 2 cores with 2 feature envs, PPO went from
~2,100 to ~2,750 env steps/s. With more workers than cores they block at once, as SubprocVecEnv's do.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import select
import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv
from stable_baselines3.common.vec_env.base_vec_env import CloudpickleWrapper, VecEnv, VecEnvIndices
from stable_baselines3.common.vec_env.subproc_vec_env import _worker

from racingline.signals import blocked, guarded_target

__all__ = ["SplitVecEnv", "WorkerVecEnv", "SPIN_SECONDS", "available_cpus"]

#: How long a waiting process polls its pipe before it blocks (covers an env step and a policy pass,
#: not PPO's gradient updates, during which workers sleep).
SPIN_SECONDS = 0.002


def available_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _poller(conn) -> Callable[[int], list]:
    """``poll(0)`` on ``conn``'s file descriptor (``Connection.poll`` builds a selector per call, ~15 us)."""
    p = select.poll()
    p.register(conn.fileno(), select.POLLIN)
    return p.poll


def _wait_readable(poll: Callable[[int], list], seconds: float) -> None:
    """Call ``poll(0)`` for up to ``seconds`` without sleeping; return early once a message is there."""
    if poll(0):
        return
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if poll(0):
            return


class _SpinningConnection:
    """A worker's end of the pipe whose ``recv`` polls for ``SPIN_SECONDS`` before blocking."""

    def __init__(self, conn) -> None:
        self._conn = conn
        self._poll = _poller(conn)

    def recv(self):
        _wait_readable(self._poll, SPIN_SECONDS)
        return self._conn.recv()

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


def _spinning_worker(remote, parent_remote, env_fn_wrapper) -> None:
    """SB3's subprocess worker loop, reading commands through a :class:`_SpinningConnection`."""
    _worker(_SpinningConnection(remote), parent_remote, env_fn_wrapper)


class WorkerVecEnv(SubprocVecEnv):
    """SB3's ``SubprocVecEnv`` with guarded workers, optionally polling before blocking (see the module notes).

    Workers are started with SIGINT/SIGTERM blocked (:func:`racingline.signals.blocked`), ignore Ctrl-C
    (the trainer handles it) and die with the trainer (:func:`racingline.signals.worker_setup`), so no
    worker outlives a killed trainer. With ``spin``, workers and result reads poll their pipes for
    ``SPIN_SECONDS`` before blocking.
    """

    def __init__(self, env_fns: list[Callable[[], gym.Env]], start_method: str | None = None,
                 spin: bool = False) -> None:
        # SubprocVecEnv.__init__, with the guarded (spinning) worker loop.
        self.waiting = False
        self.closed = False
        self.spin = bool(spin)
        ctx = mp.get_context(start_method)
        self.remotes, self.work_remotes = zip(*[ctx.Pipe() for _ in env_fns], strict=True)
        self.processes = []
        loop = _spinning_worker if self.spin else _worker
        me = os.getpid()
        for work_remote, remote, env_fn in zip(self.work_remotes, self.remotes, env_fns, strict=True):
            process = ctx.Process(target=guarded_target,
                                  args=(loop, me, work_remote, remote, CloudpickleWrapper(env_fn)), daemon=True)
            with blocked():
                process.start()
            self.processes.append(process)
            work_remote.close()
        self.remotes[0].send(("get_spaces", None))
        observation_space, action_space = self.remotes[0].recv()
        VecEnv.__init__(self, len(env_fns), observation_space, action_space)
        self._polls = [_poller(remote) for remote in self.remotes]

    def step_wait(self):
        if self.spin:
            for poll in self._polls:
                _wait_readable(poll, SPIN_SECONDS)
        return super().step_wait()


class SplitVecEnv(VecEnv):
    """Envs ``0 .. n_local - 1`` in this process (``DummyVecEnv``), the others in workers (``SubprocVecEnv``).

    Args:
        env_fns: functions building the envs, in order.
        n_local: envs stepped in this process (at least 1; all of them if there are no more).
        start_method: ``multiprocessing`` start method of the workers.
        spin: poll the pipes briefly before blocking (see the module notes); ``None``: when the workers
            and this process fit on the CPUs available, one each.
    """

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]], n_local: int = 1,
                 start_method: str | None = None, spin: bool | None = None) -> None:
        if not env_fns:
            raise ValueError("env_fns: need at least one env")
        self.n_local = max(1, min(int(n_local), len(env_fns)))
        # Workers first, so they are forked before this process builds its own envs.
        rest = list(env_fns[self.n_local:])
        if spin is None:
            spin = len(rest) + 1 <= available_cpus()
        self.spin = bool(spin and rest)
        self.remote = WorkerVecEnv(rest, start_method=start_method, spin=self.spin) if rest else None
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
