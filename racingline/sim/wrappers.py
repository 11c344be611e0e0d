"""Single-env wrappers and the builders of the tutorial's environment stack (``make_env``, ``make_vec_env``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from racingline.sim.env import DeepRacerEnv
from racingline.sim.raster import GRAY_WEIGHTS

__all__ = ["FrameSkip", "ResizeGrayscale", "make_env", "make_vec_env", "make_stock_env"]



class FrameSkip(gym.Wrapper):
    """Repeat each action ``skip`` times, sum the rewards, stop early when the episode ends.

    (``DeepRacerEnv`` skips frames inside the env, drawing once per agent step; this wrapper is for
    envs that cannot, such as the stock ``CarRacing-v3``.)
    """

    def __init__(self, env: gym.Env, skip: int = 2) -> None:
        super().__init__(env)
        if skip < 1:
            raise ValueError(f"skip: must be >= 1, got {skip}")
        self.skip = int(skip)

    def step(self, action):
        total = 0.0
        for _ in range(self.skip):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info


class ResizeGrayscale(gym.ObservationWrapper):
    """Resize an RGB image observation to ``size x size`` (area averaging) and make it grayscale ``(size, size, 1)``."""

    def __init__(self, env: gym.Env, size: int = 64) -> None:
        super().__init__(env)
        self.size = int(size)
        self.observation_space = spaces.Box(0, 255, shape=(self.size, self.size, 1), dtype=np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        from PIL import Image

        gray = (np.asarray(observation, dtype=np.float32) @ GRAY_WEIGHTS).astype(np.uint8)
        img = Image.fromarray(gray).resize((self.size, self.size), Image.Resampling.BOX)
        return np.asarray(img, dtype=np.uint8)[:, :, None]


def make_stock_env(*, frame_skip: int = 2, size: int = 64, continuous: bool = False, **kwargs: Any) -> gym.Env:
    """The reference tutorial's per-env stack on Gymnasium's stock ``CarRacing-v3``: frame skip, resize, grayscale."""
    env = gym.make("CarRacing-v3", continuous=continuous, **kwargs)
    return ResizeGrayscale(FrameSkip(env, frame_skip), size)


def make_env(
    track: Any = None,
    *,
    obs: str = "pixels",
    frame_skip: int = 2,
    size: int = 64,
    grayscale: bool = True,
    renderer: str = "fast",
    continuous: bool = False,
    render_mode: str | None = None,
    action_space: Any = None,
    **env_kwargs: Any,
) -> gym.Env:
    """One environment with the tutorial's per-env stack.

    Frame skip (``frame_skip`` physics steps per action, rewards summed, stopping at episode end), a
    ``size x size`` view, grayscale with a channel axis: observation ``uint8 (64, 64, 1)`` by default.
    ``obs="features"`` gives the float32 feature vector instead (nothing drawn). ``action_space``: a
    DeepRacer action space (a ``model_metadata.json`` path or an
    :class:`~racingline.deepracer.action_space.ActionSpace`): the env is built with continuous controls and
    wrapped in :class:`~racingline.deepracer.action_space.DeepRacerActions` (``continuous`` is then unused).
    Further keyword arguments go to :class:`DeepRacerEnv`. ``sim="torcs"`` (a config's ``env.sim``) builds a
    :class:`~racingline.torcs.env.TorcsEnv` on TORCS track(s) instead (:func:`racingline.torcs.config.make_torcs_env`).
    """
    if env_kwargs.pop("sim", "carracing") == "torcs":
        from racingline.torcs.config import make_torcs_env

        return make_torcs_env(track, frame_skip=frame_skip, render_mode=render_mode, **env_kwargs)
    env = DeepRacerEnv(
        track,
        obs=obs,
        frame_skip=frame_skip,
        size=size,
        grayscale=grayscale,
        renderer=renderer,
        continuous=continuous or action_space is not None,
        render_mode=render_mode,
        **env_kwargs,
    )
    if action_space is None:
        return env
    from racingline.deepracer.action_space import DeepRacerActions

    return DeepRacerActions(env, action_space)


def _env_factory(rank: int, seed: int | None, env_kwargs: dict[str, Any], record: Any = None) -> Callable[[], gym.Env]:
    def _init() -> gym.Env:
        from stable_baselines3.common.monitor import Monitor

        env = make_env(**env_kwargs)
        if record is not None:
            from racingline.record.wrapper import RecordEpisodes

            env = RecordEpisodes(env, record)
        env = Monitor(env, info_keywords=("progress", "lap_complete"))
        if seed is not None:
            env.reset(seed=seed + rank)
            env.action_space.seed(seed + rank)
        return env

    return _init


def make_vec_env(
    n_envs: int = 1,
    *,
    seed: int | None = None,
    frame_stack: int | None = None,
    norm_reward: bool = True,
    norm_obs: bool = False,
    gamma: float = 0.99,
    vec_env: str = "auto",
    record: Any = None,
    **env_kwargs: Any,
):
    """The tutorial's vectorised stack: ``n_envs`` x :func:`make_env`, ``VecFrameStack``, ``VecNormalize``.

    Args:
        n_envs: number of environments; with more than one, ``vec_env="auto"`` steps env 0 in this
            process while the others step in subprocesses (:class:`~racingline.train.sb3.vec_env.SplitVecEnv`).
        seed: base seed; env ``i`` is seeded ``seed + i``.
        frame_stack: frames stacked on the last axis (default 4 for pixels, 1 (none) for features).
        norm_reward / norm_obs: ``VecNormalize`` switches (tutorial: rewards only).
        gamma: discount used by ``VecNormalize`` for reward scaling.
        vec_env: ``"auto"``, ``"split"``, ``"subproc"`` (``SubprocVecEnv``) or ``"dummy"`` (``DummyVecEnv``).
        record: a :class:`~racingline.record.wrapper.RecordSpec`: env 0 records its episodes (every
            ``record.every``-th) into that dataset, in the process it runs in.
        env_kwargs: passed to :func:`make_env` (``track``, ``obs``, ``frame_skip``, ...).

    Returns:
        A ``VecEnv``: observations ``(n_envs, 64, 64, 4)`` for the default pixel stack.
    """
    from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack, VecNormalize

    obs_mode = env_kwargs.get("obs", "pixels")
    if frame_stack is None:
        frame_stack = 4 if obs_mode == "pixels" else 1
    fns = [_env_factory(i, seed, env_kwargs, record if i == 0 else None) for i in range(n_envs)]
    if vec_env == "auto":
        vec_env = "split" if n_envs > 1 else "dummy"
    if vec_env == "split":
        from racingline.train.sb3.vec_env import SplitVecEnv

        venv = SplitVecEnv(fns, n_local=1, start_method=_start_method())
    elif vec_env == "subproc":
        from racingline.train.sb3.vec_env import WorkerVecEnv

        venv = WorkerVecEnv(fns, start_method=_start_method())
    elif vec_env == "dummy":
        venv = DummyVecEnv(fns)
    else:
        raise ValueError(f"vec_env: expected 'auto', 'split', 'subproc' or 'dummy', got {vec_env!r}")
    if seed is not None:
        venv.seed(seed)
    if frame_stack > 1:
        venv = VecFrameStack(venv, n_stack=frame_stack)
    if norm_reward or norm_obs:
        venv = VecNormalize(venv, norm_obs=norm_obs, norm_reward=norm_reward, gamma=gamma)
    return venv


def _start_method() -> str:
    """``fork`` on Linux (fast start; the workers run only the simulator), else ``forkserver``/``spawn``."""
    import multiprocessing as mp
    import sys

    methods = mp.get_all_start_methods()
    if sys.platform.startswith("linux") and "fork" in methods:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"
