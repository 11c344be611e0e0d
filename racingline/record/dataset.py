"""Driving datasets in Farama's Minari format: written one whole episode at a time, read with Minari.

A dataset is a folder ``DATASET/`` holding Minari's layout ``DATASET/data/`` (``metadata.json`` and one
sub-folder per episode, Arrow files, images stored losslessly). It loads with Minari's own loader::

    import minari
    ds = minari.MinariDataset("DATASET/data")
    for episode in ds.iterate_episodes(): ...

Per step it holds the observation, the action, the reward, terminated/truncated and the car state (in
``infos``: :data:`STEP_FIELDS`, aligned with the observations, the reset's included); per episode (its
``metadata.json``) the track, direction, start waypoint, driver and outcome (:data:`OUTCOME_FIELDS`).

Memory is bounded: a :class:`DatasetWriter` holds only the episode being driven. When the episode ends it
is written to a scratch folder, moved into ``data/`` with one rename, and only then counted in
``data/metadata.json`` (itself replaced atomically), so a crash or a signal at any moment leaves a dataset
that loads and holds only whole episodes.
"""

from __future__ import annotations

import contextlib
import json
import math
import operator
import os
import shutil
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from racingline.errors import RacinglineError
from racingline.io import atomic_write_text, check_writable_dir

__all__ = ["DatasetError", "DatasetWriter", "RecordedDataset", "RecordedEpisode", "open_dataset",
           "dataset_summary", "STEP_FIELDS", "OUTCOME_FIELDS", "DATA_FORMAT", "step_record", "step_records"]

#: Minari's storage format used (Arrow IPC files, one folder per episode).
DATA_FORMAT = "arrow"
#: The car state stored per step in ``infos`` (all float64 except the counts/flags named below).
STEP_FIELDS: tuple[str, ...] = ("x_m", "y_m", "heading_deg", "speed_mps", "progress", "lap_time_s", "off_track",
                                "steering_deg", "wheels_on_road", "closest_waypoint", "yaw_rate")
#: The outcome stored in each episode's metadata.
OUTCOME_FIELDS: tuple[str, ...] = ("lap_complete", "progress", "lap_time_s", "off_track_count", "steps", "return",
                                   "terminated", "truncated", "end")
_INT_FIELDS = {"off_track": int, "wheels_on_road": int, "closest_waypoint": int}
_METADATA = "metadata.json"
_DATASET_ID = "racingline/{name}-v0"


class DatasetError(RacinglineError, ValueError):
    """A dataset that is missing, damaged, or does not fit what it is used with."""


def step_record(state: Any) -> dict[str, float]:
    """The :data:`STEP_FIELDS` of a :class:`~racingline.sim.state.CarState`."""
    x, y = state.position_m
    return {
        "x_m": x, "y_m": y,
        "heading_deg": math.degrees(math.remainder(state.angle + math.pi / 2, math.tau)),
        "speed_mps": state.speed_mps, "progress": state.progress, "lap_time_s": state.time_s,
        "off_track": int(state.off_track), "steering_deg": math.degrees(state.steer_angle),
        "wheels_on_road": int(state.wheels_on_road), "closest_waypoint": int(state.closest_waypoint),
        "yaw_rate": state.yaw_rate,
    }


#: CarState attributes read per step by :func:`step_records`.
_STATE_COLUMNS = ("x", "y", "angle", "vx", "vy", "progress", "time_s", "steer_angle", "yaw_rate", "proj",
                  "wheels_on_road", "off_track")


def step_records(states: list[Any]) -> dict[str, list[Any]]:
    """:data:`STEP_FIELDS` of the car states of one episode (one track), as plain lists, computed at once.

    Plain lists: Minari 0.5 stores 1-D arrays with an empty shape tag that it cannot read back.
    """
    sim = states[0].sim
    get = operator.attrgetter(*_STATE_COLUMNS)
    table = np.array([get(st) for st in states], dtype=np.float64).reshape(len(states), len(_STATE_COLUMNS))
    col = dict(zip(_STATE_COLUMNS, table.T))
    off = (col["off_track"] != 0).astype(np.int64).tolist()
    ox, oy = (float(v) for v in sim.origin_m)
    heading = np.degrees(np.remainder(col["angle"] + np.pi / 2 + np.pi, 2 * np.pi) - np.pi)
    waypoints = _closest_waypoints(sim, col["proj"].astype(np.int64))
    return {
        "x_m": (col["x"] / sim.scale + ox).tolist(), "y_m": (col["y"] / sim.scale + oy).tolist(),
        "heading_deg": heading.tolist(), "speed_mps": (np.hypot(col["vx"], col["vy"]) / sim.scale).tolist(),
        "progress": col["progress"].tolist(), "lap_time_s": col["time_s"].tolist(), "off_track": off,
        "steering_deg": np.degrees(col["steer_angle"]).tolist(),
        "wheels_on_road": col["wheels_on_road"].astype(np.int64).tolist(), "closest_waypoint": waypoints,
        "yaw_rate": col["yaw_rate"].tolist(),
    }


def _closest_waypoints(sim: Any, proj: np.ndarray) -> list[int]:
    """``sim.closest_waypoint`` of each dense index in ``proj`` (computed once per distinct index)."""
    uniq, inverse = np.unique(proj, return_inverse=True)
    lookup = np.array([sim.closest_waypoint(int(i)) for i in uniq], dtype=np.int64)
    return lookup[inverse].tolist()


def _scratch_storage_class():
    """Minari's Arrow storage, writing episode files only: its dataset-wide bookkeeping (read back from
    ``metadata.json`` and re-measured on every write) is kept in memory, since the :class:`DatasetWriter`
    keeps the real metadata; episode metadata is written by the writer, once, with the outcome."""
    from minari.dataset._storages.arrow_storage import ArrowStorage

    class EpisodeFiles(ArrowStorage):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.counts: dict[str, Any] = {"total_episodes": 0, "total_steps": 0}
            self.episode_metadata: dict[int, dict[str, Any]] = {}

        @property
        def metadata(self) -> dict[str, Any]:
            return {**self.counts, "observation_space": self.observation_space, "action_space": self.action_space}

        def update_metadata(self, metadata: dict) -> None:
            self.counts.update(metadata)

        def update_episode_metadata(self, metadatas: Any, episode_indices: Any = None) -> None:
            for meta, i in zip(metadatas, episode_indices):
                self.episode_metadata[int(i)] = dict(meta)

        def get_size(self) -> float:
            return 0.0

    return EpisodeFiles


def _minari():
    try:
        import minari
        from minari.data_collector.episode_buffer import EpisodeBuffer
        from minari.dataset.minari_storage import MinariStorage
    except ImportError as exc:  # pragma: no cover - the extra is part of the test install
        raise DatasetError("recording needs Minari: pip install 'racingline[record]' "
                           f"({type(exc).__name__}: {exc})") from None
    return minari, EpisodeBuffer, MinariStorage


def _dataset_id(path: Path) -> str:
    name = "".join(c if c.isalnum() or c in "_." else "_" for c in path.name.removesuffix("-v0")) or "dataset"
    return _DATASET_ID.format(name=name)


def _space_label(space: gym.Space) -> str:
    if isinstance(space, gym.spaces.Discrete):
        return f"Discrete({space.n})"
    if isinstance(space, gym.spaces.Box):
        return f"Box{tuple(space.shape)} {space.dtype}"
    return str(space)


def _same_space(a: gym.Space, b: gym.Space) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, gym.spaces.Discrete):
        return a.n == b.n and a.start == b.start
    if isinstance(a, gym.spaces.Box):
        return a.shape == b.shape and a.dtype == b.dtype and np.allclose(a.low, b.low) and np.allclose(a.high, b.high)
    return a == b


class DatasetWriter:
    """Writes episodes to a dataset folder, one whole episode at a time (see the module docstring).

    Args:
        path: the dataset folder (created; its parent must exist or be creatable).
        observation_space, action_space: the spaces of the observations and actions recorded.
        meta: dataset-wide facts kept under ``metadata.json``'s ``racingline`` key (driver, config, ...).
        append: add episodes to an existing dataset of the same spaces; otherwise an existing dataset is
            an error.

    Use :meth:`begin` after a reset, :meth:`step` after each step, then :meth:`end` (write) or
    :meth:`discard` (drop the episode). At most one episode is held in memory.
    """

    def __init__(self, path: str | os.PathLike, observation_space: gym.Space, action_space: gym.Space, *,
                 meta: dict[str, Any] | None = None, append: bool = False, algorithm_name: str | None = None) -> None:
        _, self._EpisodeBuffer, _ = _minari()
        self.path = Path(path).absolute()  # Minari's Arrow writer mishandles relative folders
        self.data = self.path / "data"
        self.observation_space = observation_space
        self.action_space = action_space
        meta_file = self.data / _METADATA
        if meta_file.exists():
            if not append:
                raise DatasetError(f"{self.path}: a dataset is already there (add to it with --append, or "
                                   "choose another path)")
            existing = RecordedDataset(self.path)
            existing.check_spaces(observation_space, action_space, what="the recording")
            self._metadata = existing.metadata_raw
        else:
            if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
                raise DatasetError(f"{self.path}: exists and is not a dataset (choose a new path)")
            check_writable_dir(self.path, what=str(path))
            minari = _minari()[0]
            self._metadata = {
                "total_episodes": 0, "total_steps": 0, "data_format": DATA_FORMAT, "jpeg_encoding": False,
                "observation_space": None, "action_space": None,
                "dataset_id": _dataset_id(self.path), "minari_version": minari.__version__,
                "algorithm_name": algorithm_name or "racingline record",
                "author": ["racingline"], "dataset_size": 0.0,
                "racingline": dict(meta or {}),
            }
        self._scratch_dir = self.path / f".scratch-{os.getpid()}"
        self._scratch = None
        self._episode: dict[str, Any] | None = None
        self.episodes_written = 0
        self.steps_written = 0
        #: Steps held in memory now, and the most ever held at once (bounded by one episode's length).
        self.held_steps = 0
        self.peak_held_steps = 0
        #: The metadata of the episode written last (track, direction, start, driver, outcome).
        self.last_episode_meta: dict[str, Any] = {}
        self._created = False
        if not meta_file.exists():
            self._create(meta_file)
        else:
            self._remove_strays()
        self._scratch_storage()  # made now (and Arrow's writer loaded), not in the first episode's write

    # ------------------------------------------------------------------ setup
    def _create(self, meta_file: Path) -> None:
        from minari.serialization import serialize_space

        self.data.mkdir(parents=True, exist_ok=True)
        self._metadata["observation_space"] = serialize_space(self.observation_space)
        self._metadata["action_space"] = serialize_space(self.action_space)
        atomic_write_text(meta_file, json.dumps(self._metadata))
        self._created = True

    def _remove_strays(self) -> None:
        """Episode folders beyond the count (a crash between the move and the count) and old scratch folders."""
        n = int(self._metadata["total_episodes"])
        for child in self.data.iterdir():
            if child.is_dir() and child.name.isdigit() and int(child.name) >= n:
                shutil.rmtree(child, ignore_errors=True)
        for child in self.path.glob(".scratch-*"):
            shutil.rmtree(child, ignore_errors=True)

    def _scratch_storage(self):
        if self._scratch is None:
            if self._scratch_dir.exists():
                shutil.rmtree(self._scratch_dir)
            self._scratch_dir.mkdir()
            self._scratch = _scratch_storage_class()(self._scratch_dir, self.observation_space, self.action_space,
                                                     jpeg_encoding=False)
        return self._scratch

    # ------------------------------------------------------------------ episodes
    @property
    def total_episodes(self) -> int:
        """Whole episodes in the dataset (earlier ones included when appending)."""
        return int(self._metadata["total_episodes"])

    @property
    def in_episode(self) -> bool:
        return self._episode is not None

    def begin(self, obs: Any, state: Any, **episode_meta: Any) -> None:
        """Start an episode from the reset's observation and car state; ``episode_meta`` goes to its metadata."""
        meta = {"track": state.track_name, "reversed": bool(state.track_reversed),
                "start_waypoint": int(state.start_waypoint), "track_length_m": state.track_length / state.sim.scale}
        meta.update(episode_meta)
        self._episode = {"obs": [np.array(obs, copy=True)], "actions": [], "rewards": [], "terminated": [],
                         "truncated": [], "states": [state], "meta": meta, "return": 0.0}

    def step(self, action: Any, obs: Any, reward: float, terminated: bool, truncated: bool, state: Any) -> None:
        """Add one step (the action taken, then what followed it)."""
        ep = self._episode
        if ep is None:
            raise RuntimeError("DatasetWriter.step before begin")
        ep["obs"].append(np.array(obs, copy=True))
        ep["actions"].append(np.array(action, copy=True))
        ep["rewards"].append(float(reward))
        ep["terminated"].append(bool(terminated))
        ep["truncated"].append(bool(truncated))
        ep["states"].append(state)  # frozen snapshots: their fields are read when the episode is written
        ep["return"] += float(reward)
        self.held_steps = len(ep["actions"])
        self.peak_held_steps = max(self.peak_held_steps, self.held_steps)

    def discard(self) -> None:
        """Drop the episode in progress (nothing of it is written)."""
        self._episode = None
        self.held_steps = 0

    def end(self, **outcome: Any) -> int | None:
        """Write the episode in progress as one whole episode; returns its id (``None`` if it had no step)."""
        ep, self._episode = self._episode, None
        self.held_steps = 0
        if ep is None or not ep["actions"]:
            return None
        state = ep["states"][-1]
        n = len(ep["actions"])
        if not (ep["terminated"][-1] or ep["truncated"][-1]):
            ep["truncated"][-1] = True  # stopped by the recorder (step limit, Ctrl-C between episodes, ...)
        result = {
            "lap_complete": bool(state.lap_complete), "progress": float(state.progress),
            "lap_time_s": float(state.time_s), "off_track_count": int(state.off_track_count), "steps": n,
            "return": float(ep["return"]), "terminated": bool(ep["terminated"][-1]),
            "truncated": bool(ep["truncated"][-1]),
            "end": ("lap" if state.lap_complete else "off_track" if state.off_track_end else
                    "out_of_playfield" if state.out_of_playfield else
                    "terminated" if ep["terminated"][-1] else "truncated"),
        }
        result.update(outcome)
        episode_id = self.total_episodes
        infos = step_records(ep["states"])
        buf = self._EpisodeBuffer(id=episode_id, observations=np.stack(ep["obs"]), actions=np.stack(ep["actions"]),
                                  rewards=ep["rewards"], terminations=ep["terminated"], truncations=ep["truncated"],
                                  infos=infos)
        episode_meta = ep["meta"]
        del ep
        scratch = self._scratch_storage()
        scratch.update_episodes([buf])
        del buf
        folder = self._scratch_dir / str(episode_id)
        meta_path = folder / _METADATA
        meta = scratch.episode_metadata.pop(episode_id)  # Minari's own: id, total_steps
        meta.update(episode_meta)
        meta.update(result)
        meta_path.write_text(json.dumps(meta, default=_json_default))
        self.last_episode_meta = meta
        target = self.data / str(episode_id)
        if target.exists():
            shutil.rmtree(target)
        os.replace(folder, target)  # one rename: the episode is in data/ whole, or not at all
        self._metadata["total_episodes"] = episode_id + 1
        self._metadata["total_steps"] = int(self._metadata["total_steps"]) + n
        self._metadata["dataset_size"] = round(float(self._metadata.get("dataset_size") or 0.0) + _folder_mb(target), 4)
        _replace_text(self.data / _METADATA, json.dumps(self._metadata, default=_json_default))
        self.episodes_written += 1
        self.steps_written += n
        return episode_id

    def close(self) -> None:
        """Drop any episode in progress and remove the scratch folder; a dataset this writer created and
        wrote no episode into is removed (an empty dataset is no dataset)."""
        self._episode = None
        self.held_steps = 0
        self._scratch = None
        shutil.rmtree(self._scratch_dir, ignore_errors=True)
        if self._created and self.total_episodes == 0:
            shutil.rmtree(self.data, ignore_errors=True)
            with contextlib.suppress(OSError):
                self.path.rmdir()  # only when nothing else is in it

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _replace_text(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (a temporary file, then a rename). Not synced to disk: the
    dataset survives a killed process at any moment; a power cut may lose the latest episodes."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _folder_mb(folder: Path) -> float:
    total = 0
    for root, _, files in os.walk(folder):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total / 2**20


@dataclass
class RecordedEpisode:
    """One episode of a dataset: ``observations`` ``(T+1, ...)``, ``actions`` ``(T, ...)``, ``rewards``,
    ``terminations``, ``truncations`` ``(T,)``, ``infos`` (:data:`STEP_FIELDS`, ``(T+1,)`` each) and ``meta``."""

    id: int
    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    infos: dict[str, np.ndarray]
    meta: dict[str, Any]


class RecordedDataset:
    """A dataset folder opened for reading, checked whole (see :func:`open_dataset`)."""

    def __init__(self, path: str | os.PathLike) -> None:
        minari = _minari()[0]
        self.path = Path(path)
        data = self.path / "data"
        label = str(path)
        if not self.path.exists():
            raise DatasetError(f"{label}: no such dataset")
        if not self.path.is_dir():
            raise DatasetError(f"{label}: not a dataset (expected a folder made by racingline record)")
        meta_file = data / _METADATA
        if not meta_file.is_file():
            raise DatasetError(f"{label}: not a dataset (no data/{_METADATA}; made by racingline record?)")
        try:
            raw = json.loads(meta_file.read_text())
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{label}: unreadable dataset metadata ({exc})") from None
        if not isinstance(raw, dict) or raw.get("data_format") not in ("arrow", "parquet", "hdf5"):
            raise DatasetError(f"{label}: not a Minari dataset (its metadata has no known data_format)")
        self.metadata_raw = raw
        total = raw.get("total_episodes")
        if not isinstance(total, int) or total < 0:
            raise DatasetError(f"{label}: damaged dataset metadata (total_episodes {total!r})")
        if total == 0:
            raise DatasetError(f"{label}: the dataset is empty (no whole episode was recorded)")
        if raw.get("data_format") == DATA_FORMAT:
            for i in range(total):
                folder = data / str(i)
                if not (folder / _METADATA).is_file() or not any(folder.glob("*.arrow")):
                    raise DatasetError(f"{label}: truncated dataset: episode {i} of {total} is missing")
        try:
            self.minari = minari.MinariDataset(data)
        except Exception as exc:  # noqa: BLE001 - Minari raises assorted errors for damaged metadata
            raise DatasetError(f"{label}: Minari cannot load it ({type(exc).__name__}: {exc})") from None
        self.observation_space: gym.Space = self.minari.observation_space
        self.action_space: gym.Space = self.minari.action_space
        self.meta: dict[str, Any] = dict(raw.get("racingline") or {})

    @property
    def total_episodes(self) -> int:
        return int(self.minari.total_episodes)

    @property
    def total_steps(self) -> int:
        return int(self.minari.total_steps)

    def episode_meta(self, i: int) -> dict[str, Any]:
        """Episode ``i``'s metadata (track, direction, start, driver, outcome)."""
        return next(iter(self.minari.storage.get_episode_metadata([i])))

    def episodes(self, indices: Any = None) -> Iterator[RecordedEpisode]:
        """The episodes (all, or ``indices``), read one at a time."""
        ids = range(self.total_episodes) if indices is None else [int(i) for i in indices]
        try:
            for i in ids:
                ep = self.minari[i]
                yield RecordedEpisode(
                    id=i, observations=np.asarray(ep.observations), actions=np.asarray(ep.actions),
                    rewards=np.asarray(ep.rewards), terminations=np.asarray(ep.terminations),
                    truncations=np.asarray(ep.truncations), infos=dict(ep.infos or {}), meta=self.episode_meta(i))
        except (OSError, ValueError, KeyError) as exc:
            raise DatasetError(f"{self.path}: damaged episode data ({type(exc).__name__}: {exc})") from None

    def check_spaces(self, observation_space: gym.Space, action_space: gym.Space, *, what: str) -> None:
        """Raise :class:`DatasetError` unless the dataset's spaces are these (``what`` names the other side)."""
        if not _same_space(self.observation_space, observation_space):
            raise DatasetError(f"{self.path}: its observations ({_space_label(self.observation_space)}) do not fit "
                               f"{what} ({_space_label(observation_space)})")
        if not _same_space(self.action_space, action_space):
            raise DatasetError(f"{self.path}: its actions ({_space_label(self.action_space)}) do not fit "
                               f"{what} ({_space_label(action_space)})")


def open_dataset(path: str | os.PathLike) -> RecordedDataset:
    """Open a dataset for reading; :class:`DatasetError` (one line, naming it) when missing, empty or damaged."""
    return RecordedDataset(path)


def dataset_summary(path: str | os.PathLike) -> dict[str, Any]:
    """What ``racingline record --info`` prints: size, spaces, drivers, tracks and outcomes."""
    ds = open_dataset(path)
    metas = [ds.episode_meta(i) for i in range(ds.total_episodes)]
    laps = [m for m in metas if m.get("lap_complete")]
    tracks: dict[str, int] = {}
    for m in metas:
        key = f"{m.get('track')}{' (reversed)' if m.get('reversed') else ''}"
        tracks[key] = tracks.get(key, 0) + 1
    drivers = sorted({str(m.get("driver", ds.meta.get("driver", "?"))) for m in metas})
    return {
        "path": str(ds.path), "dataset_id": ds.metadata_raw.get("dataset_id"),
        "minari_version": ds.metadata_raw.get("minari_version"),
        "episodes": ds.total_episodes, "steps": ds.total_steps,
        "observation_space": _space_label(ds.observation_space), "action_space": _space_label(ds.action_space),
        "obs": ds.meta.get("obs"), "drivers": drivers, "tracks": tracks,
        "laps": len(laps), "median_lap_time_s": statistics.median(m["lap_time_s"] for m in laps) if laps else None,
        "mean_progress": statistics.fmean(float(m.get("progress", 0.0)) for m in metas),
        "size_mb": round(_folder_mb(ds.path / "data"), 3),
    }
