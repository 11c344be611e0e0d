"""``racingline record``: drive episodes with a line controller or a trained model and record them.

Drivers (``--driver``):

- ``line:METHOD`` (``mincurv``, ``k1999``, ...): the line-following controller on a line optimised for each
  episode's track and direction (cached per track), so it drives generated and random tracks too; on a
  TORCS config (``env.sim: torcs``) the TORCS line controller (:mod:`racingline.torcs.expert`) on a line
  optimised per TORCS track;
- ``line:FILE``: the controller on a saved line (``racingline line optimize --out``); every episode is on
  the line's track, in the line's direction;
- ``model:RUN``: a trained run's policy, deterministic, with its own observation pipeline (frame stack,
  ``VecNormalize``); the recording holds the env's raw observations, as a dataset for pretraining needs;
- ``human``: see ``racingline drive --human`` (:mod:`racingline.record.human`).

The env is the config's (``--config``, or the run's for a model), so a dataset fits training with that
config: same observations, same actions. Episodes are written one by one as they end
(:class:`~racingline.record.wrapper.RecordEpisodes`); Ctrl-C stops at once, keeping every whole episode.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from racingline.choices import DRIVER_KINDS, LINE_METHODS
from racingline.errors import ConfigError
from racingline.record.dataset import DatasetError
from racingline.record.wrapper import RecordEpisodes, RecordSpec

__all__ = ["DriverSpec", "parse_driver", "LineDriver", "line_driver_for", "RecordResult", "record_dataset",
           "DRIVER_KINDS"]

#: Optimised lines kept per driver (a pool's tracks in both directions, generated tracks come and go).
_LINE_CACHE = 32


@dataclass(frozen=True)
class DriverSpec:
    """A parsed ``--driver``: its kind and what follows the colon (a method, a line file, a run)."""

    kind: str
    source: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.source}" if self.source else self.kind


def parse_driver(text: str) -> DriverSpec:
    """``line:mincurv``, ``line:FILE``, ``model:RUN`` or ``human``; :class:`ConfigError` otherwise."""
    kind, _, source = str(text).partition(":")
    kind = kind.strip().lower()
    if kind not in DRIVER_KINDS:
        raise ConfigError(f"--driver {text!r}: unknown driver; use line:METHOD (one of {', '.join(LINE_METHODS)}), "
                          "line:FILE, model:RUN or human")
    if kind in ("line", "model") and not source.strip():
        raise ConfigError(f"--driver {text!r}: {kind}: needs a {'method or line file' if kind == 'line' else 'run'} "
                          f"after the colon, e.g. {'line:mincurv' if kind == 'line' else 'model:runs/my-run'}")
    if kind == "human" and source:
        raise ConfigError(f"--driver {text!r}: human takes nothing after it")
    return DriverSpec(kind, source.strip())


class LineDriver:
    """The line-following controller (:class:`~racingline.lines.drive.LineFollower`) as a driver.

    ``source``: an optimiser name (a line is optimised per track and direction, margin ``margin_m``) or a
    saved line file. ``act(state)`` returns CarRacing's continuous ``[steer, gas, brake]``.
    """

    def __init__(self, source: str, *, margin_m: float = 0.05, speed_scale: float | None = None) -> None:
        from racingline.lines.line import load_line

        self.source = source
        self.margin_m = float(margin_m)
        self.speed_scale = speed_scale
        if source not in LINE_METHODS and not Path(source).expanduser().exists():
            raise ConfigError(f"--driver line:{source}: neither a line method ({', '.join(LINE_METHODS)}) nor a "
                              "line file (make one with racingline line optimize --out)")
        self.line = None if source in LINE_METHODS else load_line(source)
        self._followers: dict[int, tuple[Any, Any]] = {}
        self.follower: Any = None

    @property
    def label(self) -> str:
        return f"line:{self.source}"

    def reset(self, state: Any) -> None:
        """Pick (or optimise) the line for the episode's track and direction."""
        from racingline.lines.drive import DEFAULT_SPEED_SCALE, LineFollower
        from racingline.lines.optimize import optimize_line

        track = state.sim.track  # the track in its driving direction
        key = id(track)
        hit = self._followers.get(key)
        if hit is None or hit[0] is not track:
            if self.line is not None:
                if (state.track_name, bool(state.track_reversed)) != (self.line.track_name, bool(self.line.reverse)):
                    raise ConfigError(f"--driver {self.label}: the line is for track '{self.line.track_name}'"
                                      f"{' reversed' if self.line.reverse else ''}, not '{state.track_name}'"
                                      f"{' reversed' if state.track_reversed else ''}")
                line = self.line
            else:
                line = optimize_line(track, self.source, margin_m=self.margin_m)
            scale = self.speed_scale if self.speed_scale is not None else (
                None if self.line is not None and self.line.speed_mps is not None else DEFAULT_SPEED_SCALE)
            if len(self._followers) >= _LINE_CACHE:
                self._followers.clear()
            hit = (track, LineFollower(line, speed_scale=scale))
            self._followers[key] = hit
        self.follower = hit[1]
        self.follower.reset()

    def act(self, state: Any) -> np.ndarray:
        return self.follower.continuous(state)


def line_driver_for(sim: str, source: str) -> Any:
    """The line controller for simulator ``sim`` (a config's ``env.sim``): :class:`LineDriver` on CarRacing,
    or on TORCS :class:`~racingline.torcs.expert.TorcsLineDriver` on a line optimised per TORCS track (a
    saved line file is refused there: its line is a CarRacing track's)."""
    if sim != "torcs":
        return LineDriver(source)
    if source not in LINE_METHODS:
        raise ConfigError(f"--driver line:{source}: on TORCS the controller drives a line optimised per track; "
                          f"give a method ({', '.join(LINE_METHODS)}), not a line file")
    from racingline.torcs.expert import TorcsLineDriver

    return TorcsLineDriver(source)


@dataclass
class RecordResult:
    """What a recording wrote: the dataset, whole episodes and steps added, laps, and the time taken."""

    path: Path
    episodes: int
    steps: int
    laps: int
    total_episodes: int
    seconds: float
    interrupted: bool = False
    signum: int | None = None

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0


def _recording_config(cfg: Any, tracks: Sequence[str] | None, max_steps: int | None, start: Any, reverse: Any):
    env = cfg.env
    changes: dict[str, Any] = {}
    if tracks:
        changes["track"] = list(tracks) if len(tracks) > 1 else tracks[0]
        changes["track_weights"] = None
    if max_steps is not None:
        changes["max_episode_steps"] = int(max_steps)
    if start is not None:
        changes["start_waypoint"] = start
    if reverse is not None:
        changes["reverse"] = reverse
    return dataclasses.replace(cfg, env=dataclasses.replace(env, **changes)) if changes else cfg


def _check_line_actions(cfg: Any, label: str) -> None:
    if cfg.env.sim == "torcs":
        return  # TORCS configs are continuous steer/gas/brake (checked when read)
    if cfg.env.action_space is not None or not cfg.env.continuous:
        what = f"the DeepRacer action space {cfg.env.action_space}" if cfg.env.action_space else "discrete actions"
        raise ConfigError(f"--driver {label}: the line controller drives CarRacing's continuous actions, but the "
                          f"config uses {what} (set env.continuous=true and env.action_space=null)")


def record_dataset(
    driver: str | DriverSpec,
    out: str | os.PathLike,
    *,
    config: str | os.PathLike | Any = "default",
    sets: Sequence[str] = (),
    tracks: Sequence[str] | None = None,
    episodes: int = 1,
    seed: int = 0,
    max_steps: int | None = None,
    start_waypoint: int | str | None = None,
    reverse: bool | str | None = None,
    append: bool = False,
    stop: threading.Event | None = None,
    on_episode: Callable[[dict[str, Any]], None] | None = None,
) -> RecordResult:
    """Drive ``episodes`` episodes with ``driver`` and record them into the dataset ``out``.

    Args:
        driver: ``line:METHOD``, ``line:FILE`` or ``model:RUN`` (see the module docstring).
        config: a config name/path or a :class:`~racingline.train.config.Config` (ignored for a model,
            which brings its own); ``sets``: ``KEY=VALUE`` overrides.
        tracks: tracks (names, paths, globs, ``generated``, ``random``) replacing the config's pool.
        seed: episode ``i`` is reset with ``seed + i``.
        max_steps, start_waypoint, reverse: replace the config's episode limit, start and direction.
        append: add to an existing dataset of the same spaces.
        stop: when set, the episode in progress is dropped and recording ends (Ctrl-C).
        on_episode: called with each written episode's metadata.

    Raises:
        ConfigError, TrackError, RunError, ModelError, DatasetError, LineError: bad inputs, before any
        driving (the message names the input).
    """
    from racingline.sim.wrappers import make_env
    from racingline.train.config import apply_overrides, env_kwargs, load_config

    spec = parse_driver(driver) if isinstance(driver, str) else driver
    if spec.kind == "human":
        raise ConfigError("--driver human: drive with `racingline drive --human --record DATASET`")
    if int(episodes) < 1:
        raise ConfigError(f"--episodes {episodes}: must be at least 1")
    run = None
    line_driver: LineDriver | None = None
    if spec.kind == "model":
        from racingline.train.runs import load_run

        run = load_run(spec.source)
        cfg = apply_overrides(run.config, list(sets)) if sets else run.config
    else:
        cfg = config if not isinstance(config, (str, os.PathLike)) else load_config(config)
        if sets:
            cfg = apply_overrides(cfg, list(sets))
        _check_line_actions(cfg, spec.label)
        line_driver = line_driver_for(cfg.env.sim, spec.source)
        if getattr(line_driver, "line", None) is not None:
            line = line_driver.line
            if not tracks:
                tracks = [line.track_name]
            if reverse is None:
                reverse = bool(line.reverse)
    cfg = _recording_config(cfg, tracks, max_steps, start_waypoint, reverse)
    kw = env_kwargs(cfg.env)  # resolves and validates the tracks here, before anything is written
    meta = {"driver": spec.label, "obs": cfg.env.obs, "config": dataclasses.asdict(cfg.env) | {"track": None},
            "frame_stack": cfg.env.frame_stack, "config_name": cfg.name}
    record = RecordSpec(out, meta=meta, append=append, episode_meta={"driver": spec.label})
    env = RecordEpisodes(make_env(**kw), record)
    writer = env.open()  # an existing dataset (without append) or an unwritable path fails here
    start_total = writer.total_episodes
    laps = 0
    t0 = time.perf_counter()
    interrupted = False
    try:
        if run is not None:
            step_fn = _model_stepper(run, env)
        for i in range(int(episodes)):
            if stop is not None and stop.is_set():
                interrupted = True
                break
            env.episode_meta["episode_seed"] = int(seed) + i
            if run is not None:
                done_ok = step_fn(int(seed) + i, stop)
            else:
                done_ok = _drive_line_episode(env, line_driver, int(seed) + i, stop)
            if not done_ok:
                interrupted = True
                break
            if writer.total_episodes > start_total + i:  # the episode was written
                laps += bool(writer.last_episode_meta.get("lap_complete"))
                if on_episode is not None:
                    on_episode(writer.last_episode_meta)
    finally:
        env.close()
        writer.close()
    return RecordResult(path=Path(out), episodes=writer.episodes_written, steps=writer.steps_written, laps=laps,
                        total_episodes=writer.total_episodes, seconds=time.perf_counter() - t0,
                        interrupted=interrupted)


def _drive_line_episode(env: RecordEpisodes, driver: Any, seed: int, stop: threading.Event | None) -> bool:
    """One episode driven by the line controller; ``False`` when stopped (the episode is dropped)."""
    env.reset(seed=seed)
    base = env.unwrapped
    driver.reset(base.state)
    while True:
        if stop is not None and stop.is_set():
            env.discard()
            return False
        _, _, terminated, truncated, _ = env.step(driver.act(base.state))
        if terminated or truncated:
            return True


def _model_stepper(run: Any, env: RecordEpisodes) -> Callable[[int, threading.Event | None], bool]:
    """A function driving one episode of ``run``'s policy on ``env`` through the run's observation stack."""
    from racingline.evaluate.rollouts import wrap_for_model

    venv = wrap_for_model(run, env)
    model = run.model

    def one(seed: int, stop: threading.Event | None) -> bool:
        venv.seed(seed)
        obs = venv.reset()
        while True:
            if stop is not None and stop.is_set():
                env.discard()
                return False
            action, _ = model.predict(obs, deterministic=True)
            obs, _, dones, _ = venv.step(action)
            if dones[0]:
                return True

    return one


def check_dataset_path(out: str | os.PathLike, append: bool, *, what: str = "--out") -> None:
    """Before any work: ``out`` can hold a new dataset (a writable folder, missing or empty), or with
    ``append`` is an existing dataset; else :class:`DatasetError` / :class:`~racingline.io.OutputError`."""
    from racingline.io import check_writable_dir

    path = Path(out)
    is_dataset = (path / "data" / "metadata.json").exists()
    if is_dataset and not append:
        raise DatasetError(f"{what} {path}: a dataset is already there (add to it with "
                           f"{'--record-append' if what == '--record' else '--append'}, or choose another path)")
    if not is_dataset and path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise DatasetError(f"{what} {path}: exists and is not a dataset (choose a new path)")
    check_writable_dir(path, what=what)
