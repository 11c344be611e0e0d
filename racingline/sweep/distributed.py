"""Evaluation spread over Ray workers: the same :class:`~racingline.evaluate.results.EvalReport` as
:func:`racingline.evaluate.rollouts.evaluate`, its tracks shared out among Ray actors.

The run travels as bytes (:class:`RunPackage`: the model, its normalisation statistics, the config in force,
with ``--set`` overrides, and the files it names), so the workers need not see the run folder: a cluster's
other machines evaluate it too. Each actor loads the model once, then evaluates whole tracks with
:func:`~racingline.evaluate.rollouts.evaluate` (the same env, seed and policy as a local evaluation), so a
deterministic policy gives the numbers a local evaluation gives. With ``--stochastic`` each track's actions
are seeded with the same seed (a local evaluation seeds once, before its first track).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from racingline.choices import RANDOM_TRACK
from racingline.errors import ConfigError, RacinglineError
from racingline.evaluate.results import EpisodeResult, EvalReport, TrackResult
from racingline.sweep.cluster import ClusterError, check_address, cluster_cpus, ray_session, require_ray
from racingline.train.config import Config, save_config
from racingline.train.runs import LoadedRun, load_run

__all__ = ["RunPackage", "pack_run", "unpack_run", "TrackEvaluator", "evaluate_on_ray", "ray_evaluate"]

#: Options of a local evaluation that write files: not with Ray workers.
_LOCAL_ONLY = {"sim_trace": "--sim-trace", "record": "--record"}


@dataclass(frozen=True)
class RunPackage:
    """A loaded run as bytes: the model zip, its statistics, the config in force and the files it names
    (``env.action_space``, a reward file), by the name they get beside the unpacked model."""

    model: bytes
    stats: bytes | None
    config: Config
    files: dict[str, bytes]


def pack_run(run: LoadedRun) -> RunPackage:
    """``run``'s files and config (with any ``--set`` overrides) as a :class:`RunPackage`."""
    cfg = run.config
    files: dict[str, bytes] = {}
    env_changes: dict[str, Any] = {}
    if cfg.env.action_space is not None:
        files["model_metadata.json"] = Path(cfg.env.action_space).read_bytes()
        env_changes["action_space"] = "model_metadata.json"
    if isinstance(cfg.env.reward, str) and cfg.env.reward.endswith(".py"):
        files["reward_function.py"] = Path(cfg.env.reward).read_bytes()
        env_changes["reward"] = "reward_function.py"
    if env_changes:
        cfg = dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, **env_changes))
    stats = Path(run.stats_path).read_bytes() if run.stats_path is not None else None
    return RunPackage(model=Path(run.model_path).read_bytes(), stats=stats, config=cfg, files=files)


def unpack_run(package: RunPackage, folder: str | Path) -> LoadedRun:
    """Write ``package`` into ``folder`` as a run folder and load it (:func:`racingline.train.runs.load_run`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.zip").write_bytes(package.model)
    if package.stats is not None:
        (folder / "vecnormalize.pkl").write_bytes(package.stats)
    for name, data in package.files.items():
        (folder / name).write_bytes(data)
    save_config(package.config, folder / "config.yaml")
    return load_run(folder)


class TrackEvaluator:
    """A Ray actor (``ray.remote(TrackEvaluator)``): loads a :class:`RunPackage` once, then evaluates tracks."""

    def __init__(self, package: RunPackage) -> None:
        import torch

        torch.set_num_threads(1)  # one CPU per actor
        self.folder = tempfile.mkdtemp(prefix="racingline-eval-")
        self.run = unpack_run(package, self.folder)

    def evaluate(self, index: int, track: Any, kwargs: dict[str, Any]) -> tuple[int, TrackResult]:
        """Evaluate one track (``evaluate(run, [track], **kwargs)``); returns ``(index, its TrackResult)``."""
        from racingline.evaluate.rollouts import evaluate

        return index, evaluate(self.run, [track], **kwargs).tracks[0]

    def close(self) -> None:
        """Remove the unpacked run."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _load_tracks(tracks: Sequence[Any]) -> list[Any]:
    from racingline.tracks.files import Track, TrackError, load_track

    loaded = [t if isinstance(t, Track) or (isinstance(t, str) and t == RANDOM_TRACK) else load_track(t)
              for t in tracks]
    if not loaded:
        raise TrackError("tracks: none given to evaluate on")
    return loaded


def _cause(exc: BaseException) -> BaseException:
    """The exception raised inside a Ray task (Ray wraps it), else ``exc`` itself."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def evaluate_on_ray(model: str | Path | LoadedRun, tracks: Sequence[Any], episodes: int = 1,
                    max_steps: int | None = None, deterministic: bool = True, *, workers: int | None = None,
                    address: str | None = None, on_episode: Callable[[EpisodeResult], None] | None = None,
                    **kwargs: Any) -> EvalReport:
    """:func:`racingline.evaluate.rollouts.evaluate` with the tracks spread over Ray actors.

    ``workers``: actors (default: the cluster's CPUs), at most one per track; a local Ray (no ``address``) is
    started with that many CPUs. ``address``: a Ray cluster (``host:port`` or ``auto``). Other keyword
    arguments are :func:`~racingline.evaluate.rollouts.evaluate`'s (``start_waypoint``, ``reverse``, ``seed``,
    ``line_gap``, ...), except the ones that write files (``sim_trace``, ``record``). ``on_episode`` is called
    here, for each episode of a track once the track is done.

    Raises:
        MissingExtraError: Ray is not installed. ClusterError: Ray cannot start or be reached.
        RunError, ConfigError, ModelError, TrackError: as a local evaluation (from the workers too).
    """
    for key, flag in _LOCAL_ONLY.items():
        if kwargs.get(key) is not None:
            raise ConfigError(f"{flag}: writes files here, so it runs with a local evaluation only (drop --workers "
                              "and --address)")
        kwargs.pop(key, None)
    if kwargs.pop("record_append", False):
        raise ConfigError("--record-append: with a local evaluation only")
    if int(episodes) < 1:
        raise ConfigError(f"episodes={episodes}: must be at least 1")
    if max_steps is not None and int(max_steps) < 1:
        raise ConfigError(f"max_steps={max_steps}: must be a positive number of agent steps")
    if workers is not None and int(workers) < 1:
        raise ConfigError(f"workers={workers}: must be at least 1")
    require_ray("evaluation on Ray workers")
    run = load_run(model)
    loaded = _load_tracks(tracks)
    package = pack_run(run)
    call = {"episodes": int(episodes), "max_steps": max_steps, "deterministic": bool(deterministic), **kwargs}
    results: list[TrackResult | None] = [None] * len(loaded)
    with ray_session(address, cpus=workers) as ray:
        from ray.util import ActorPool

        n = min(len(loaded), int(workers) if workers is not None else max(1, cluster_cpus(ray)))
        actor = ray.remote(num_cpus=1)(TrackEvaluator)
        ref = ray.put(package)
        actors = [actor.remote(ref) for _ in range(n)]
        try:
            pool = ActorPool(actors)
            for i, track in enumerate(loaded):
                pool.submit(lambda a, v: a.evaluate.remote(*v), (i, track, call))
            while pool.has_next():
                try:
                    i, track_result = pool.get_next_unordered()
                except Exception as exc:  # noqa: BLE001 - Ray wraps what the worker raised
                    cause = _cause(exc)
                    if isinstance(cause, RacinglineError):
                        raise cause from None
                    raise ClusterError(f"a Ray worker failed: {' '.join(str(cause).split())[:300]}") from None
                results[i] = track_result
                if on_episode is not None:
                    for ep in track_result.episodes:
                        on_episode(ep)
        finally:
            for a in actors:
                with contextlib.suppress(Exception):
                    ray.get(a.close.remote(), timeout=30)
                with contextlib.suppress(Exception):
                    ray.kill(a)
    return EvalReport(model=str(run.model_path), run_dir=str(run.run_dir), deterministic=bool(deterministic),
                      max_steps=max_steps, tracks=[r for r in results if r is not None])


def ray_evaluate(*, workers: int | None = None, address: str | None = None, sim_trace: Any = None,
                 record: Any = None) -> Callable[..., EvalReport]:
    """For ``racingline eval --workers/--address``: check now (before the model is loaded) that Ray is there
    and the options fit, and return :func:`evaluate_on_ray` with ``workers`` and ``address`` set, called as
    :func:`racingline.evaluate.rollouts.evaluate` is."""
    for value, flag in ((sim_trace, "--sim-trace"), (record, "--record")):
        if value is not None:
            raise ConfigError(f"{flag}: writes files here, so it runs with a local evaluation only (drop --workers "
                              "and --address)")
    require_ray("racingline eval --workers/--address")
    if address:
        check_address(address)
    return functools.partial(evaluate_on_ray, workers=workers, address=address)
