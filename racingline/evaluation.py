"""Evaluation: load a trained run, roll its policy out on tracks, and measure laps.

A run folder (written by ``racingline train``) holds ``model.zip`` (SB3 PPO), ``vecnormalize.pkl``
(``VecNormalize`` statistics) and ``config.yaml``. Evaluation rebuilds the training observation stack
from that config (one env, ``DummyVecEnv`` -> ``VecFrameStack`` -> ``VecNormalize`` with the saved
statistics, frozen), swapping only the track, the start waypoint, the direction and the step limit.
"""

from __future__ import annotations

import dataclasses
import os
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from racingline.config import Config, env_kwargs, load_config
from racingline.errors import ConfigError, ModelError, RunError
from racingline.tracks import Track, TrackError, load_track

__all__ = [
    "LoadedRun",
    "EpisodeResult",
    "TrackResult",
    "EvalReport",
    "Rollout",
    "resolve_run_files",
    "load_run",
    "latest_run",
    "resolve_eval_tracks",
    "make_eval_env",
    "rollout",
    "evaluate",
    "RANDOM_TRACK",
]

#: Track spec standing for CarRacing's procedural random track.
RANDOM_TRACK = "random"

MODEL_FILE = "model.zip"
STATS_FILE = "vecnormalize.pkl"
CONFIG_FILE = "config.yaml"


# ---------------------------------------------------------------------------------------------- runs
@dataclass(frozen=True)
class LoadedRun:
    """A trained model with everything needed to rebuild its observation stack.

    Attributes:
        model_path: the ``.zip`` loaded.
        run_dir: the folder holding ``config.yaml``.
        config: the run's full training config.
        stats_path: the ``VecNormalize`` statistics file, or ``None`` when the run has none.
        model: the loaded SB3 ``PPO`` model (on CPU).
    """

    model_path: Path
    run_dir: Path
    config: Config
    stats_path: Path | None
    model: Any = field(repr=False)


def resolve_run_files(model: str | os.PathLike) -> tuple[Path, Path, Path | None]:
    """Find ``(model.zip, config.yaml, vecnormalize.pkl or None)`` for a run folder or a model file.

    ``model`` is a run folder (``runs/NAME``), its ``model.zip``, or a checkpoint ``.zip`` in the run's
    ``checkpoints/`` (whose own statistics, ``<stem>_vecnormalize.pkl`` or SB3's
    ``*vecnormalize_<steps>_steps.pkl``, are preferred to the run's ``vecnormalize.pkl``).

    Raises:
        RunError: the folder or file is missing, or holds no model or no config.
    """
    raw = str(model)
    path = Path(raw).expanduser()
    if path.is_dir():
        model_path = path / MODEL_FILE
        if not model_path.is_file():
            raise RunError(f"{raw}: not a run folder (no {MODEL_FILE} in it)")
    elif path.is_file():
        if path.suffix != ".zip":
            raise RunError(f"{raw}: expected a run folder or a model .zip file")
        model_path = path
    else:
        raise RunError(f"{raw}: no such run folder or model file")
    folder = model_path.parent
    config_path = next((d / CONFIG_FILE for d in (folder, folder.parent) if (d / CONFIG_FILE).is_file()), None)
    if config_path is None:
        raise RunError(f"{raw}: no {CONFIG_FILE} beside the model (or in its parent folder)")
    stats: list[Path] = []
    if model_path.name != MODEL_FILE:  # a checkpoint: its own statistics first
        stats.append(folder / f"{model_path.stem}_vecnormalize.pkl")
        steps = re.search(r"_(\d+)_steps$", model_path.stem)
        if steps:
            stats += sorted(folder.glob(f"*vecnormalize_{steps.group(1)}_steps.pkl"))
    stats += [folder / STATS_FILE, config_path.parent / STATS_FILE]
    stats_path = next((p for p in stats if p.is_file()), None)
    return model_path, config_path, stats_path


def load_run(model: str | os.PathLike) -> LoadedRun:
    """Load a run folder or model ``.zip`` (see :func:`resolve_run_files`) with its config, on CPU.

    Raises:
        RunError: files are missing; ConfigError: ``config.yaml`` is invalid;
        ModelError: the model cannot be loaded, or normalised observations lack their statistics.
    """
    model_path, config_path, stats_path = resolve_run_files(model)
    cfg = load_config(config_path)
    if stats_path is None and cfg.norm_obs:
        raise RunError(f"{model}: the run normalises observations (norm_obs: true) but has no {STATS_FILE}")
    from stable_baselines3 import PPO

    try:
        # Schedules are not needed to act; constants avoid unpickling the training code's schedule objects.
        constant = {"learning_rate": 0.0, "lr_schedule": lambda _: 0.0, "clip_range": lambda _: 0.0}
        ppo = PPO.load(model_path, device="cpu", custom_objects=constant)
    except Exception as exc:  # noqa: BLE001 - zip, pickle and torch errors all mean "not a usable model"
        raise ModelError(f"{model_path}: not a loadable Stable-Baselines3 PPO model ({type(exc).__name__}: "
                         f"{_first_line(exc)})") from None
    return LoadedRun(model_path=model_path, run_dir=config_path.parent, config=cfg, stats_path=stats_path, model=ppo)


def latest_run(runs_dir: str | os.PathLike = "runs") -> Path:
    """The run folder in ``runs_dir`` whose ``model.zip`` is newest.

    Raises:
        RunError: ``runs_dir`` is missing or holds no run with a model.
    """
    root = Path(runs_dir)
    if not root.is_dir():
        raise RunError(f"{runs_dir}: no such runs folder; train a model with `racingline train` or pass --model")
    runs = [d for d in root.iterdir() if d.is_dir() and (d / MODEL_FILE).is_file()]
    if not runs:
        raise RunError(f"{runs_dir}: holds no run with a {MODEL_FILE}; pass --model")
    return max(runs, key=lambda d: ((d / MODEL_FILE).stat().st_mtime, d.name))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no details"


# ---------------------------------------------------------------------------------------------- tracks
def resolve_eval_tracks(tracks: Sequence[str | os.PathLike | Track] = (), specs: Sequence[str] = ()
                        ) -> list[Track | str]:
    """Load the tracks to evaluate on: each of ``tracks`` (a path or name), then each pool spec or glob.

    ``random`` (CarRacing's procedural track) is kept as the string ``"random"``. Raises
    :class:`TrackError` naming the input when a track is missing or malformed, or a glob matches nothing.
    """
    from racingline.pools import expand_track_spec

    out: list[Track | str] = []
    items: list[Any] = list(tracks)
    for spec in specs:
        members, _ = expand_track_spec(spec)
        for member in members:
            if member == "generated":
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
    # The training track spec is not expanded: its files need not exist where the model is evaluated.
    kw = env_kwargs(dataclasses.replace(cfg.env, track=RANDOM_TRACK, track_weights=None))
    kw["track"] = track
    kw["track_weights"] = None
    kw["start_waypoint"] = int(start_waypoint)
    kw["reverse"] = bool(reverse)
    if max_steps is not None:
        kw["max_episode_steps"] = int(max_steps)
    kw["render_mode"] = render_mode
    return kw


def make_eval_env(run: LoadedRun, track: Track | str, *, start_waypoint: int = 0, reverse: bool = False,
                  max_steps: int | None = None, seed: int = 0, frame_sink: Callable[[np.ndarray], None] | None = None):
    """One evaluation env built exactly like the run's training envs, on ``track``.

    ``DummyVecEnv`` of one ``Monitor(make_env(...))`` with the run config's env settings except the track,
    start waypoint, direction and (when given) ``max_steps``; ``VecFrameStack(frame_stack)`` when > 1;
    the saved ``VecNormalize`` statistics frozen (``training=False, norm_reward=False``); and, like SB3
    does at training time, ``VecTransposeImage`` for channel-last image observations. ``frame_sink``
    receives every full rendered frame of the first episode (``rgb_array``, ``(400, 600, 3)`` uint8).

    Raises:
        ModelError: the model's observation or action space does not fit this env (both shapes named).
    """
    from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first
    from stable_baselines3.common.vec_env import VecNormalize, VecTransposeImage

    from racingline.wrappers import make_vec_env

    cfg = run.config
    if isinstance(track, str) and track == RANDOM_TRACK:
        track = RANDOM_TRACK
        reverse = False
    kw = _env_settings(cfg, track, start_waypoint=start_waypoint, reverse=reverse, max_steps=max_steps,
                       render_mode="rgb_array" if frame_sink is not None else None)
    try:
        venv = make_vec_env(1, seed=seed, frame_stack=cfg.env.frame_stack, norm_reward=False, norm_obs=False,
                            gamma=cfg.ppo.gamma, vec_env="dummy", **kw)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, (TrackError, ConfigError)):
            raise
        raise ConfigError(f"{run.run_dir / CONFIG_FILE}: env settings cannot build an environment ({exc})") from None
    if frame_sink is not None:
        dummy = venv.unwrapped
        dummy.envs[0] = _FrameRecorder(dummy.envs[0], frame_sink)
    space = venv.observation_space
    transpose = is_image_space(space) and not is_image_space_channels_first(space)
    env_shape = VecTransposeImage.transpose_space(space).shape if transpose else space.shape
    _check_spaces(run, env_shape, venv.action_space)
    if run.stats_path is not None:
        try:
            venv = VecNormalize.load(str(run.stats_path), venv)
        except Exception as exc:  # noqa: BLE001 - pickle/shape errors: the statistics do not fit
            venv.close()
            raise ModelError(f"{run.stats_path}: normalisation statistics do not fit the environment "
                             f"({type(exc).__name__}: {_first_line(exc)})") from None
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
            f"{run.run_dir / CONFIG_FILE} (obs={cfg.obs}, size={cfg.size}, frame_stack={cfg.frame_stack}) "
            f"gives {tuple(env_shape)}"
        )
    if model.action_space != env_action:
        raise ModelError(f"{run.model_path}: model acts in {model.action_space} but the environment "
                         f"(continuous={cfg.continuous}) expects {env_action}")


# ---------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class EpisodeResult:
    """One evaluation episode.

    ``lap_steps``/``lap_time_s`` are the lap's agent steps and simulated seconds when a lap completed,
    else ``None``; ``steps``/``time_s`` cover the whole episode. ``reversed_steps`` counts agent steps
    spent driving against the track direction; ``end`` says why the episode ended: ``lap``,
    ``out_of_playfield``, ``truncated`` (step limit), ``off_track`` (with ``terminate_on_off_track``)
    or ``terminated``.
    """

    track: str
    track_reversed: bool
    start_waypoint: int
    lap_complete: bool
    lap_steps: int | None
    lap_time_s: float | None
    steps: int
    time_s: float
    progress_pct: float
    off_track_count: int
    reversed_steps: int
    total_reward: float
    end: str

    @property
    def reversed(self) -> bool:
        """Whether the car drove against the track direction at some point."""
        return self.reversed_steps > 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``reversed`` included)."""
        return {**dataclasses.asdict(self), "reversed": self.reversed}


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


class _Figures:
    """Aggregate figures over ``self.episodes`` (shared by :class:`TrackResult` and :class:`EvalReport`)."""

    episodes: list[EpisodeResult]

    @property
    def laps_completed(self) -> int:
        return sum(e.lap_complete for e in self.episodes)

    @property
    def laps_attempted(self) -> int:
        return len(self.episodes)

    @property
    def mean_progress_pct(self) -> float:
        return float(np.mean([e.progress_pct for e in self.episodes])) if self.episodes else 0.0

    @property
    def median_lap_steps(self) -> float | None:
        """Median over completed laps (``None`` when no lap completed)."""
        return _median([e.lap_steps for e in self.episodes if e.lap_steps is not None])

    @property
    def median_lap_time_s(self) -> float | None:
        """Median simulated lap time over completed laps (``None`` when no lap completed)."""
        return _median([e.lap_time_s for e in self.episodes if e.lap_time_s is not None])

    @property
    def off_track_count(self) -> int:
        return sum(e.off_track_count for e in self.episodes)

    @property
    def reversed_episodes(self) -> int:
        return sum(e.reversed for e in self.episodes)

    @property
    def mean_reward(self) -> float:
        return float(np.mean([e.total_reward for e in self.episodes])) if self.episodes else 0.0

    def summary(self) -> dict[str, Any]:
        """Laps completed/attempted, mean progress, median lap steps/time of completed laps, off-tracks, ..."""
        return {
            "laps_completed": self.laps_completed,
            "laps_attempted": self.laps_attempted,
            "mean_progress_pct": self.mean_progress_pct,
            "median_lap_steps": self.median_lap_steps,
            "median_lap_time_s": self.median_lap_time_s,
            "off_track_count": self.off_track_count,
            "reversed_episodes": self.reversed_episodes,
            "mean_reward": self.mean_reward,
        }


@dataclass(frozen=True)
class TrackResult(_Figures):
    """All episodes on one track, with their aggregate figures."""

    track: str
    source: str | None
    length_m: float | None
    episodes: list[EpisodeResult]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: the track, its figures and its episodes."""
        return {"track": self.track, "source": self.source, "length_m": self.length_m,
                "episodes_run": len(self.episodes), **self.summary(),
                "episodes": [e.to_dict() for e in self.episodes]}


@dataclass(frozen=True)
class EvalReport(_Figures):
    """An evaluation of one model on several tracks; its figures summarise every episode."""

    model: str
    run_dir: str
    deterministic: bool
    max_steps: int | None
    tracks: list[TrackResult]

    @property
    def episodes(self) -> list[EpisodeResult]:  # type: ignore[override]
        return [e for t in self.tracks for e in t.episodes]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: model, settings, one entry per track (with its episodes), summary."""
        return {
            "model": self.model,
            "run_dir": self.run_dir,
            "deterministic": self.deterministic,
            "max_steps": self.max_steps,
            "tracks": [t.to_dict() for t in self.tracks],
            "summary": self.summary(),
        }


@dataclass
class Rollout:
    """One episode's path and outcome.

    Attributes:
        track: the :class:`Track` driven (metres; for ``random``, the procedural track generated).
        path_m: car positions in metres, from the start to the lap's end or the episode's end.
        info: the env's ``info`` at the last step.
        result: the episode's figures.
    """

    track: Track
    path_m: list[tuple[float, float]]
    info: dict[str, Any]
    result: EpisodeResult


# ---------------------------------------------------------------------------------------------- rollouts
def _run_episode(run: LoadedRun, venv, *, deterministic: bool, label: str) -> Rollout:
    """Reset ``venv`` and act with the model until the episode ends (lap, termination or truncation)."""
    model = run.model
    obs = venv.reset()
    base = venv.unwrapped
    env = base.envs[0].unwrapped
    first = (base.reset_infos[0] if getattr(base, "reset_infos", None) else {}) or {}
    path: list[tuple[float, float]] = []
    if "position_m" in first:
        path.append(tuple(first["position_m"]))
    driven = env.sim_track.track
    total = 0.0
    reversed_steps = 0
    while True:
        action, _ = model.predict(obs, deterministic=deterministic)
        obs, rewards, dones, infos = venv.step(action)
        info = infos[0]
        total += float(rewards[0])
        reversed_steps += bool(info.get("reversed", False))
        path.append(tuple(info["position_m"]))
        if dones[0]:
            break
    lap = bool(info["lap_complete"])
    if lap:
        end = "lap"
    elif info.get("out_of_playfield", False):
        end = "out_of_playfield"
    elif info.get("TimeLimit.truncated", False):
        end = "truncated"
    elif info.get("off_track", False):
        end = "off_track"
    else:
        end = "terminated"
    result = EpisodeResult(
        track=label,
        track_reversed=bool(info["track_reversed"]),
        start_waypoint=int(info.get("start_waypoint", 0)),
        lap_complete=lap,
        lap_steps=int(info["lap_steps"]) if lap else None,
        lap_time_s=float(info["lap_time_s"]) if lap else None,
        steps=int(info["lap_steps"]),
        time_s=float(info["lap_time_s"]),
        progress_pct=float(info["progress"]),
        off_track_count=int(info["off_track_count"]),
        reversed_steps=int(reversed_steps),
        total_reward=total,
        end=end,
    )
    if info.get("track_reversed"):
        driven = driven.reversed()  # draw and report the track in its own file's order
    clean = {k: v for k, v in info.items() if k not in ("terminal_observation", "episode")}
    return Rollout(track=driven, path_m=path, info=clean, result=result)


def _as_run(model: str | os.PathLike | LoadedRun) -> LoadedRun:
    return model if isinstance(model, LoadedRun) else load_run(model)


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
    run = _as_run(model)
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
             on_episode: Callable[[EpisodeResult], None] | None = None) -> EvalReport:
    """Evaluate ``model`` (a run folder, a model ``.zip`` or a :class:`LoadedRun`) on each track.

    Each episode starts at ``start_waypoint`` in the track's own direction (or reversed). The policy is
    deterministic unless ``deterministic=False`` (actions sampled; the model's random generators, which
    are global ones, are seeded with ``seed``). ``on_episode`` is called after each episode (for progress).

    Raises:
        RunError, ConfigError, ModelError, TrackError: bad run, config, model or track (message names it).
    """
    _validate_limits(max_steps, episodes)
    run = _as_run(model)
    loaded = [_as_track(t) for t in tracks]
    if not loaded:
        raise TrackError("tracks: none given to evaluate on")
    _seed_policy(run, deterministic, seed)
    results: list[TrackResult] = []
    for track in loaded:
        venv = make_eval_env(run, track, start_waypoint=start_waypoint, reverse=reverse, max_steps=max_steps,
                             seed=seed)
        label = _track_label(track)
        eps: list[EpisodeResult] = []
        try:
            for _ in range(int(episodes)):
                eps.append(_run_episode(run, venv, deterministic=deterministic, label=label).result)
                if on_episode is not None:
                    on_episode(eps[-1])
        finally:
            venv.close()
        is_file = isinstance(track, Track)
        results.append(TrackResult(track=label, source=track.source if is_file else None,
                                   length_m=track.length_m if is_file else None, episodes=eps))
    return EvalReport(model=str(run.model_path), run_dir=str(run.run_dir), deterministic=bool(deterministic),
                      max_steps=max_steps, tracks=results)
