"""``env.sim: torcs`` in training configs: the rules for such an env, its track pool, and the env itself.

A TORCS env takes ``track`` (TORCS tracks, ``road/g-track-1``, or one race file ``.yaml``),
``track_weights``, ``frame_skip``, ``max_episode_steps``, ``terminate_on_off_track`` and
``off_track_penalty`` from the config; CarRacing's drawing keys (``renderer``, ``size``, ``grayscale``) are
unused, and keys TORCS cannot honour are refused when the config is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from racingline.errors import ConfigError

__all__ = ["check_torcs_env", "resolve_torcs_pool", "make_torcs_env", "is_race_file"]


def is_race_file(member: str) -> bool:
    """Whether a pool member names a race file rather than a TORCS track."""
    return str(member).lower().endswith((".yaml", ".yml"))


def check_torcs_env(env: Any, source: str) -> None:
    """Refuse (:class:`ConfigError`, one line) the ``env`` keys a TORCS env cannot honour."""
    rules = (
        (env.obs == "features", "env.obs", "must be 'features' (TORCS's sensors)", env.obs),
        (env.continuous, "env.continuous", "must be true (steer, gas, brake)", env.continuous),
        (env.action_space is None, "env.action_space", "must be null (DeepRacer action spaces are for carracing)",
         env.action_space),
        (env.reward == "progress", "env.reward", "must be 'progress'", env.reward),
        (env.start_waypoint == 0, "env.start_waypoint", "must be 0 (TORCS races start on the grid; a race file "
         "sets the grid place)", env.start_waypoint),
        (env.reverse is False, "env.reverse", "must be false (TORCS tracks are driven their own way)", env.reverse),
    )
    for ok, key, rule, value in rules:
        if not ok:
            raise ConfigError(f"{source}: config key '{key}' {rule} with env.sim 'torcs', got {value!r}")
    tracks = env.track if isinstance(env.track, list) else [env.track]
    if any(is_race_file(t) for t in tracks) and len(tracks) > 1:
        raise ConfigError(f"{source}: config key 'env.track': a race file (.yaml) must be the only track with "
                          "env.sim 'torcs'")


def resolve_torcs_pool(env: Any) -> tuple[list[str], list[float] | None]:
    """The TORCS tracks of ``env.track`` as ``category/name`` (a race file: its absolute path), with the
    weights; :class:`~racingline.torcs.install.TorcsError` (one line) for an unknown track or race file."""
    from racingline.torcs.install import find_torcs, resolve_track
    from racingline.torcs.race import load_race

    tracks = env.track if isinstance(env.track, list) else [env.track]
    install = find_torcs()
    if len(tracks) == 1 and is_race_file(tracks[0]):
        path = Path(tracks[0]).expanduser().resolve()
        load_race(path).checked(install)
        return [str(path)], None
    members = [resolve_track(install, str(t)) for t in tracks]
    return members, (list(env.track_weights) if env.track_weights is not None else None)


def make_torcs_env(track: Any, *, track_weights: Any = None, frame_skip: int = 1, max_episode_steps: int | None = None,
                   terminate_on_off_track: bool = True, off_track_penalty: float = -100.0,
                   render_mode: str | None = None, **unused: Any):
    """The :class:`~racingline.torcs.env.TorcsEnv` of a config's env settings (CarRacing-only keys unused)."""
    from racingline.torcs.env import TorcsEnv

    pool = track if isinstance(track, list) else [track]
    return TorcsEnv(pool if len(pool) > 1 else pool[0], track_weights=track_weights, frame_skip=frame_skip,
                    max_episode_steps=max_episode_steps, terminate_on_off_track=terminate_on_off_track,
                    off_track_penalty=off_track_penalty, render_mode=render_mode)
