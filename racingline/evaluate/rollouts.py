"""Evaluation: roll a trained run's policy out on tracks and measure laps (figures: :mod:`racingline.evaluate.results`).

A run (loaded by :func:`racingline.train.runs.load_run`) holds ``model.zip`` (SB3 PPO), ``vecnormalize.pkl``
(``VecNormalize`` statistics) and ``config.yaml``. Evaluation rebuilds the training observation stack
from that config (one env, ``DummyVecEnv`` -> ``VecFrameStack`` -> ``VecNormalize`` with the saved
statistics, frozen), swapping only the track, the start waypoint, the direction and the step limit.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from racingline.choices import GENERATED_TRACK, RANDOM_TRACK
from racingline.errors import ConfigError, ModelError, RewardError
from racingline.evaluate.results import EpisodeResult, EvalReport, Rollout, TrackResult
from racingline.tracks.files import Track, TrackError, load_track
from racingline.train.config import Config, env_settings
from racingline.train.runs import CONFIG_FILE, LoadedRun, load_run, load_vecnormalize

__all__ = [
    "EpisodeResult",
    "TrackResult",
    "EvalReport",
    "Rollout",
    "resolve_eval_tracks",
    "make_eval_env",
    "rollout",
    "evaluate",
    "RANDOM_TRACK",
]



# ---------------------------------------------------------------------------------------------- tracks
def resolve_eval_tracks(tracks: Sequence[str | os.PathLike | Track] = (), specs: Sequence[str] = ()
                        ) -> list[Track | str]:
    """Load the tracks to evaluate on: each of ``tracks`` (a path or name), then each pool spec or glob.

    ``random`` (CarRacing's procedural track) is kept as the string ``"random"``. Raises
    :class:`TrackError` naming the input when a track is missing or malformed, or a glob matches nothing.
    """
    from racingline.tracks.pools import expand_track_spec

    out: list[Track | str] = []
    items: list[Any] = list(tracks)
    for spec in specs:
        members, _ = expand_track_spec(spec)
        for member in members:
            if member == GENERATED_TRACK:
                raise TrackError(f"{spec}: 'generated' tracks change every episode; evaluate on track files instead")
        items += members
    for item in items:
        if isinstance(item, str) and item == RANDOM_TRACK:
            out.append(RANDOM_TRACK)
        else:
            out.append(load_track(item))
    return out


def _track_label(track: Track | str) -> str:
    return track.name if isinstance(track, Track) else str(track)


# ---------------------------------------------------------------------------------------------- envs
class _FrameRecorder(gym.Wrapper):
    """Passes the full ``rgb_array`` frame after reset and after every step of ONE episode to ``sink``.

    Sits inside the ``DummyVecEnv`` so the final frame is taken before the vec env's automatic reset
    (which, like any later episode, is not recorded).
    """

    def __init__(self, env: gym.Env, sink: Callable[[np.ndarray], None]) -> None:
        super().__init__(env)
        self._sink = sink
        self._live = False
        self._done = False

    def reset(self, **kwargs):
        out = self.env.reset(**kwargs)
        if not self._done:
            self._live = True
            self._sink(self.env.render())
        return out

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self._live:
            self._sink(self.env.render())
            if terminated or truncated:
                self._live = False
                self._done = True
        return obs, reward, terminated, truncated, info


def _env_settings(cfg: Config, track: Track | str, *, start_waypoint: int, reverse: bool, max_steps: int | None,
                  render_mode: str | None) -> dict[str, Any]:
    """``make_env`` keyword arguments of the run's config with the track, start, direction and limit replaced."""
    # The training track pool is not resolved: its files need not exist where the model is evaluated.
    kw = env_settings(cfg.env)
    kw["track"] = track
    kw["track_weights"] = None
    kw["start_waypoint"] = int(start_waypoint)
    kw["reverse"] = bool(reverse)
    if max_steps is not None:
        kw["max_episode_steps"] = int(max_steps)
    kw["render_mode"] = render_mode
    return kw


def make_eval_env(run: LoadedRun, track: Track | str, *, start_waypoint: int = 0, reverse: bool = False,
                  max_steps: int | None = None, seed: int = 0, frame_sink: Callable[[np.ndarray], None] | None = None,
                  record: Any = None):
    """One evaluation env built exactly like the run's training envs, on ``track``.

    ``DummyVecEnv`` of one ``Monitor(make_env(...))`` with the run config's env settings except the track,
    start waypoint, direction and (when given) ``max_steps``; ``VecFrameStack(frame_stack)`` when > 1;
    the saved ``VecNormalize`` statistics frozen (``training=False, norm_reward=False``); and, like SB3
    does at training time, ``VecTransposeImage`` for channel-last image observations. ``frame_sink``
    receives every full rendered frame of the first episode (``rgb_array``, ``(400, 600, 3)`` uint8).
    ``record``: a :class:`~racingline.record.wrapper.RecordSpec`; the episodes are recorded into its dataset.

    Raises:
        ModelError: the model's observation or action space does not fit this env (both shapes named).
    """
    from racingline.sim.wrappers import make_env

    cfg = run.config
    if isinstance(track, str) and track == RANDOM_TRACK:
        track = RANDOM_TRACK
        reverse = False
    kw = _env_settings(cfg, track, start_waypoint=start_waypoint, reverse=reverse, max_steps=max_steps,
                       render_mode="rgb_array" if frame_sink is not None else None)
    try:
        env = make_env(**kw)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, (TrackError, ConfigError)):
            raise
        raise ConfigError(f"{run.run_dir / CONFIG_FILE}: env settings cannot build an environment ({exc})") from None
    if record is not None:
        from racingline.record.wrapper import RecordEpisodes

        env = RecordEpisodes(env, record)
    if frame_sink is not None:
        env = _FrameRecorder(env, frame_sink)
    return wrap_for_model(run, env, seed=seed)


def wrap_for_model(run: LoadedRun, env: gym.Env, *, seed: int | None = None):
    """``env`` (one env, as :func:`racingline.make_env` makes) inside ``run``'s observation stack: a
    ``DummyVecEnv`` of ``Monitor(env)``, ``VecFrameStack`` when the run stacks frames, its ``VecNormalize``
    statistics frozen, and ``VecTransposeImage`` for channel-last images; the model's spaces checked.

    Raises:
        ModelError: the model's observation or action space does not fit (both named); ``env`` is closed.
    """
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first
    from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack, VecTransposeImage

    cfg = run.config
    venv = DummyVecEnv([lambda: Monitor(env, info_keywords=("progress", "lap_complete"))])
    if seed is not None:
        venv.seed(seed)
    if cfg.env.frame_stack > 1:
        venv = VecFrameStack(venv, n_stack=cfg.env.frame_stack)
    space = venv.observation_space
    transpose = is_image_space(space) and not is_image_space_channels_first(space)
    env_shape = VecTransposeImage.transpose_space(space).shape if transpose else space.shape
    try:
        _check_spaces(run, env_shape, venv.action_space)
    except ModelError:
        venv.close()
        raise
    if run.stats_path is not None:
        venv = load_vecnormalize(run.stats_path, venv)
        venv.training = False
        venv.norm_reward = False
    if transpose:
        venv = VecTransposeImage(venv)
    return venv


def _check_spaces(run: LoadedRun, env_shape: tuple[int, ...], env_action: gym.Space) -> None:
    model = run.model
    cfg = run.config.env
    model_shape = tuple(model.observation_space.shape or ())
    if model_shape != tuple(env_shape):
        raise ModelError(
            f"{run.model_path}: model expects observations of shape {model_shape} but the environment from "
            f"{run.folder.config} (obs={cfg.obs}, size={cfg.size}, frame_stack={cfg.frame_stack}) "
            f"gives {tuple(env_shape)}"
        )
    if model.action_space != env_action:
        raise ModelError(f"{run.model_path}: model acts in {model.action_space} but the environment "
                         f"({_actions_label(cfg)}) expects {env_action}")


def _actions_label(env_cfg) -> str:
    """How the env's actions are set: the DeepRacer action space file, or CarRacing's ``continuous`` switch."""
    if env_cfg.action_space is not None:
        return f"action_space={env_cfg.action_space}"
    return f"continuous={env_cfg.continuous}"


# ---------------------------------------------------------------------------------------------- rollouts
def _run_episode(run: LoadedRun, venv, *, deterministic: bool, label: str, trace: Any = None) -> Rollout:
    """Reset ``venv`` and act with the model until the episode ends (lap, termination or truncation).

    ``trace``: a :class:`~racingline.deepracer.simtrace.SimTraceWriter` that records the episode's steps.
    """
    model = run.model
    obs = venv.reset()
    base = venv.unwrapped
    env = base.envs[0].unwrapped
    first = (base.reset_infos[0] if getattr(base, "reset_infos", None) else {}) or {}
    path: list[tuple[float, float]] = []
    speeds: list[float] = []
    if "position_m" in first:
        path.append(tuple(first["position_m"]))
        speeds.append(float(first.get("speed_mps", 0.0)))
    driven = env.sim_track.track
    total = 0.0
    reversed_steps = 0
    discrete = isinstance(model.action_space, gym.spaces.Discrete)
    if trace is not None:
        trace.reset(0, first)
    while True:
        action, _ = model.predict(obs, deterministic=deterministic)
        obs, rewards, dones, infos = venv.step(action)
        info = infos[0]
        if "reward_error" in info:  # the user's reward_function failed: say so, as training does
            raise RewardError(info["reward_error"])
        total += float(rewards[0])
        if trace is not None:
            trace.step(0, info, float(rewards[0]), int(np.asarray(action).reshape(-1)[0]) if discrete else None,
                       bool(dones[0]))
        reversed_steps += bool(info.get("reversed", False))
        path.append(tuple(info["position_m"]))
        speeds.append(float(info.get("speed_mps", 0.0)))
        if dones[0]:
            break
    result = EpisodeResult.from_final_info(info, track=label, total_reward=total, reversed_steps=reversed_steps)
    if info.get("track_reversed"):
        driven = driven.reversed()  # draw and report the track in its own file's order
    clean = {k: v for k, v in info.items() if k not in ("terminal_observation", "episode")}
    return Rollout(track=driven, path_m=path, info=clean, result=result, speeds_mps=speeds)


def _as_track(track: Track | str | os.PathLike) -> Track | str:
    if isinstance(track, Track) or (isinstance(track, str) and track == RANDOM_TRACK):
        return track
    return load_track(track)


def _validate_limits(max_steps: int | None, episodes: int = 1) -> None:
    if max_steps is not None and int(max_steps) < 1:
        raise ConfigError(f"max_steps={max_steps}: must be a positive number of agent steps")
    if int(episodes) < 1:
        raise ConfigError(f"episodes={episodes}: must be at least 1")


def rollout(model: str | os.PathLike | LoadedRun, track: Track | str | os.PathLike, *, deterministic: bool = True,
            max_steps: int | None = None, start_waypoint: int = 0, reverse: bool = False, seed: int = 0,
            frame_sink: Callable[[np.ndarray], None] | None = None) -> Rollout:
    """Drive one episode of ``model`` on ``track`` and return the car's path (metres) and final ``info``.

    The path ends when the lap completes or the episode ends (off the playfield, or ``max_steps``).
    ``frame_sink`` receives each full rendered frame (for GIFs).
    """
    _validate_limits(max_steps)
    run = load_run(model)
    track = _as_track(track)
    _seed_policy(run, deterministic, seed)
    venv = make_eval_env(run, track, start_waypoint=start_waypoint, reverse=reverse, max_steps=max_steps,
                         seed=seed, frame_sink=frame_sink)
    try:
        return _run_episode(run, venv, deterministic=deterministic, label=_track_label(track))
    finally:
        venv.close()


def _seed_policy(run: LoadedRun, deterministic: bool, seed: int) -> None:
    if not deterministic:
        run.model.set_random_seed(seed)


def evaluate(model: str | os.PathLike | LoadedRun, tracks: Sequence[Track | str | os.PathLike], episodes: int = 1,
             max_steps: int | None = None, deterministic: bool = True, *, start_waypoint: int = 0,
             reverse: bool = False, seed: int = 0,
             on_episode: Callable[[EpisodeResult], None] | None = None,
             sim_trace: str | os.PathLike | None = None, record: str | os.PathLike | None = None,
             record_append: bool = False, line_gap: bool = False) -> EvalReport:
    """Evaluate ``model`` (a run folder, a model ``.zip`` or a :class:`LoadedRun`) on each track.

    Each episode starts at ``start_waypoint`` in the track's own direction (or reversed). The policy is
    deterministic unless ``deterministic=False`` (actions sampled; the model's random generators, which
    are global ones, are seeded with ``seed``). ``on_episode`` is called after each episode (for progress).
    ``sim_trace``: a folder to write DeepRacer simulation-trace CSV logs of the episodes into, one
    evaluation stream per track (:func:`racingline.deepracer.simtrace.evaluation_stream`).
    ``record``: a dataset folder to record every episode into (:mod:`racingline.record`); ``record_append``
    adds to an existing one. ``line_gap``: also drive the best racing line from each episode's start and
    direction (cached; :mod:`racingline.evaluate.gaps`), giving each lap's ``line_ratio``.

    Raises:
        RunError, ConfigError, ModelError, TrackError: bad run, config, model or track (message names it).
    """
    _validate_limits(max_steps, episodes)
    run = load_run(model)
    loaded = [_as_track(t) for t in tracks]
    if not loaded:
        raise TrackError("tracks: none given to evaluate on")
    _seed_policy(run, deterministic, seed)
    results: list[TrackResult] = []
    spec = None
    if record is not None:
        from racingline.record.wrapper import RecordSpec

        cfg = run.config
        spec = RecordSpec(record, shared=True, append=record_append,
                          meta={"driver": f"model:{run.run_dir}", "obs": cfg.env.obs, "frame_stack": cfg.env.frame_stack,
                                "config": {**dataclasses.asdict(cfg.env), "track": None}, "config_name": cfg.name},
                          episode_meta={"driver": f"model:{run.run_dir}", "deterministic": bool(deterministic)})
    try:
        for track in loaded:
            results.append(_evaluate_track(run, track, episodes, max_steps, deterministic, start_waypoint, reverse,
                                           seed, on_episode, sim_trace, spec))
    finally:
        if spec is not None:
            spec.close()
    report = EvalReport(model=str(run.model_path), run_dir=str(run.run_dir), deterministic=bool(deterministic),
                        max_steps=max_steps, tracks=results)
    if line_gap:
        from racingline.evaluate.gaps import with_line_gaps

        report = with_line_gaps(report, loaded)
    return report


def _evaluate_track(run: LoadedRun, track: Track | str, episodes: int, max_steps: int | None, deterministic: bool,
                    start_waypoint: int, reverse: bool, seed: int, on_episode: Any, sim_trace: Any,
                    spec: Any) -> TrackResult:
    """Evaluate ``episodes`` episodes on one track (see :func:`evaluate`)."""
    venv = make_eval_env(run, track, start_waypoint=start_waypoint, reverse=reverse, max_steps=max_steps,
                         seed=seed, record=spec)
    label = _track_label(track)
    eps: list[EpisodeResult] = []
    trace = None
    if sim_trace is not None:
        from racingline.deepracer.simtrace import SimTraceWriter, evaluation_stream

        trace = SimTraceWriter(evaluation_stream(sim_trace, label, reverse=reverse))
    try:
        for _ in range(int(episodes)):
            eps.append(_run_episode(run, venv, deterministic=deterministic, label=label, trace=trace).result)
            if on_episode is not None:
                on_episode(eps[-1])
        if trace is not None:
            trace.close()
    finally:
        venv.close()
    is_file = isinstance(track, Track)
    return TrackResult(track=label, source=track.source if is_file else None,
                       length_m=track.length_m if is_file else None, episodes=eps)
