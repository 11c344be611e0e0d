"""Run folders: their layout, unique creation, the newest save to resume from, and loading a trained agent.

A run folder (``runs/<YYYYmmdd-HHMMSS>-<name>/`` unless given) holds everything needed to reload the agent::

    model.zip                         the final Stable-Baselines3 PPO model (also written on Ctrl-C)
    vecnormalize.pkl                  VecNormalize statistics for model.zip (``VecNormalize.load``)
    config.yaml                       the fully resolved config (``racingline.train.config.load_config`` reads it)
    progress.csv                      one row per PPO iteration (see ``racingline.train.callbacks.PROGRESS_COLUMNS``)
    checkpoints/step_<N>.zip          a model every ``checkpoint_every`` env steps (N: 9 digits), and on Ctrl-C
    checkpoints/step_<N>_vecnormalize.pkl   its statistics
    tensorboard/                      TensorBoard logs, only when ``tensorboard`` is installed
    model_metadata.json               the DeepRacer action space trained with (only with ``env.action_space``)
    recordings/                       recorded training episodes (only with ``--record-every``)
    demos/                            the line controller's demonstrations (only with ``demos.episodes``)
    pretrain.json                     what behaviour cloning did (only with demonstrations or ``--pretrain``)
    selection.json                    every save's validation laps, and the one kept (only with ``select.generated``)

With ``select.generated``, ``model.zip`` is the best save on validation tracks (:mod:`racingline.train.select`)
and the last model is a checkpoint.

:class:`RunFolder` is the one owner of that layout: it creates a fresh folder (:meth:`RunFolder.create`),
opens an existing one (:meth:`RunFolder.open`), names every file in it, finds the save to resume from
(:meth:`RunFolder.resume_point`) and writes models, statistics and the config atomically. The module
constants and free functions (``MODEL_FILE``, :func:`create_run_dir`, :func:`resume_point`...) are thin
aliases of it, kept for existing callers.

Loading (:func:`load_run`) is the one way to get a trained agent back, for evaluation, pictures and tests:
it finds a run's model, config and statistics (:func:`resolve_run_files`) and loads them as a
:class:`LoadedRun`; :func:`latest_run` picks the newest run of a runs folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from racingline.errors import ModelError, RunError
from racingline.io import atomic_path
from racingline.train.config import Config, load_config, save_config

__all__ = [
    "RunFolder",
    "RUN_LAYOUT",
    "MODEL_FILE",
    "VECNORMALIZE_FILE",
    "CONFIG_FILE",
    "PROGRESS_FILE",
    "CHECKPOINTS_DIR",
    "TENSORBOARD_DIR",
    "create_run_dir",
    "resolve_run",
    "vecnormalize_path",
    "checkpoint_path",
    "resume_point",
    "LoadedRun",
    "resolve_run_files",
    "load_run",
    "load_vecnormalize",
    "latest_run",
    "describe",
]

_SB3_STEPS_RE = re.compile(r"_(\d+)_steps$")


class RunFolder:
    """One run folder and its layout: the only place that knows the names of the files in a run.

    ``RunFolder(path)`` just names a folder (nothing is checked or created); :meth:`create` makes a fresh
    one and :meth:`open` resolves an existing run. Every path of the layout is a property
    (:attr:`model`, :attr:`vecnormalize`, :attr:`config`, :attr:`progress`, :attr:`checkpoints`,
    :attr:`tensorboard`) or a method (:meth:`checkpoint`, :meth:`vecnormalize_for`). Models and their
    statistics (:meth:`save`) and the config (:meth:`save_config`) are written atomically: a temporary
    file in the same folder, then a rename, so an interrupt never leaves a half-written file.

    ``os.fspath(run)`` and ``str(run)`` give the folder's path; two ``RunFolder`` of the same path are equal.
    """

    MODEL_FILE = "model.zip"
    VECNORMALIZE_FILE = "vecnormalize.pkl"
    CONFIG_FILE = "config.yaml"
    PROGRESS_FILE = "progress.csv"
    CHECKPOINTS_DIR = "checkpoints"
    TENSORBOARD_DIR = "tensorboard"
    MODEL_METADATA_FILE = "model_metadata.json"
    RECORDINGS_DIR = "recordings"
    DEMOS_DIR = "demos"
    PRETRAIN_FILE = "pretrain.json"
    SELECTION_FILE = "selection.json"
    #: What a run folder holds (name -> meaning); see the module docstring.
    LAYOUT = {
        MODEL_FILE: "final Stable-Baselines3 PPO model",
        VECNORMALIZE_FILE: "VecNormalize statistics of model.zip",
        CONFIG_FILE: "fully resolved config",
        PROGRESS_FILE: "training log, one row per PPO iteration",
        f"{CHECKPOINTS_DIR}/step_<N>.zip": "checkpoint model every checkpoint_every steps (N zero-padded to 9 digits)",
        f"{CHECKPOINTS_DIR}/step_<N>_vecnormalize.pkl": "its VecNormalize statistics",
        f"{TENSORBOARD_DIR}/": "TensorBoard logs (only when tensorboard is installed)",
        MODEL_METADATA_FILE: "DeepRacer action space trained with (only with env.action_space)",
        f"{RECORDINGS_DIR}/": "Minari dataset of recorded training episodes (only with --record-every)",
        f"{DEMOS_DIR}/": "Minari dataset of the line controller's demonstrations (only with demos.episodes)",
        PRETRAIN_FILE: "what behaviour cloning did (only with demonstrations or --pretrain)",
        SELECTION_FILE: "every save's validation laps and the one kept as model.zip (only with select.generated)",
    }
    _STATS_SUFFIX = "_vecnormalize.pkl"
    _STEP_RE = re.compile(r"^step_(\d+)\.zip$")

    __slots__ = ("_path",)

    def __init__(self, path: str | os.PathLike) -> None:
        self._path = Path(path)

    # ------------------------------------------------------------------------------------------ creation
    @classmethod
    def create(cls, name: str, runs_dir: str | os.PathLike = "runs",
               run_dir: str | os.PathLike | None = None) -> RunFolder:
        """Create a fresh run folder ``runs_dir/<YYYYmmdd-HHMMSS>-<name>`` (``-2``, ``-3``... on collision).

        Folders are made with ``os.mkdir``, which fails when the folder exists, so two trainings started
        at the same time never share one. An explicit ``run_dir`` may exist but must not hold a run
        already (a ``model.zip`` or ``config.yaml``). The new folder gets its (empty) ``checkpoints/``.

        Raises:
            RunError: ``run_dir`` is a file or already holds a run, or no free name was found.
        """
        if run_dir is not None:
            run = cls(run_dir)
            if run.path.exists() and not run.path.is_dir():
                raise RunError(f"{run.path}: exists and is not a folder")
            for held in (run.model, run.config):
                if held.exists():
                    raise RunError(f"{run.path}: already holds a run ({held.name}); "
                                   "choose another --run-dir or --resume it")
            run.path.mkdir(parents=True, exist_ok=True)
        else:
            run = cls._create_unique(name, Path(runs_dir))
        run.checkpoints.mkdir(exist_ok=True)
        return run

    @classmethod
    def _create_unique(cls, name: str, root: Path) -> RunFolder:
        root.mkdir(parents=True, exist_ok=True)
        base = f"{time.strftime('%Y%m%d-%H%M%S')}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', name) or 'run'}"
        for i in range(1, 10_000):
            path = root / (base if i == 1 else f"{base}-{i}")
            try:
                os.mkdir(path)
            except FileExistsError:
                continue
            return cls(path)
        raise RunError(f"{root}: could not create a new run folder named {base}-N")

    @classmethod
    def open(cls, run: str | os.PathLike, runs_dir: str | os.PathLike = "runs") -> RunFolder:
        """An existing run folder: ``run`` itself, or ``runs_dir/run``; it must hold a ``config.yaml``.

        Raises:
            RunError: no such folder, or it holds no ``config.yaml``.
        """
        p = Path(run)
        if not p.is_dir() and (Path(runs_dir) / p).is_dir():
            p = Path(runs_dir) / p
        if not p.is_dir():
            raise RunError(f"{run}: no such run folder")
        folder = cls(p)
        if not folder.config.is_file():
            raise RunError(f"{p}: not a run folder (no {cls.CONFIG_FILE})")
        return folder

    # ------------------------------------------------------------------------------------------ layout
    @property
    def path(self) -> Path:
        """The folder itself."""
        return self._path

    @property
    def name(self) -> str:
        """The folder's name (``<YYYYmmdd-HHMMSS>-<name>`` for created runs)."""
        return self._path.name

    @property
    def model(self) -> Path:
        """The final model, ``model.zip``."""
        return self._path / self.MODEL_FILE

    @property
    def vecnormalize(self) -> Path:
        """The statistics of the final model, ``vecnormalize.pkl``."""
        return self._path / self.VECNORMALIZE_FILE

    @property
    def config(self) -> Path:
        """The fully resolved config, ``config.yaml``."""
        return self._path / self.CONFIG_FILE

    @property
    def progress(self) -> Path:
        """The training log, ``progress.csv``."""
        return self._path / self.PROGRESS_FILE

    @property
    def checkpoints(self) -> Path:
        """The checkpoints folder, ``checkpoints/``."""
        return self._path / self.CHECKPOINTS_DIR

    @property
    def tensorboard(self) -> Path:
        """The TensorBoard log folder, ``tensorboard/`` (used only when tensorboard is installed)."""
        return self._path / self.TENSORBOARD_DIR

    @property
    def model_metadata(self) -> Path:
        """The DeepRacer ``model_metadata.json`` of what was trained (only runs with ``env.action_space``)."""
        return self._path / self.MODEL_METADATA_FILE

    @property
    def recordings(self) -> Path:
        """The Minari dataset of training episodes recorded with ``--record-every``."""
        return self._path / self.RECORDINGS_DIR

    @property
    def demos(self) -> Path:
        """The dataset of the config's demonstrations, ``demos/``."""
        return self._path / self.DEMOS_DIR

    def checkpoint(self, step: int) -> Path:
        """The model path of the checkpoint at ``step`` env steps: ``checkpoints/step_<9 digits>.zip``."""
        return self.checkpoints / f"step_{int(step):09d}.zip"

    @classmethod
    def vecnormalize_for(cls, model_path: str | os.PathLike) -> Path:
        """The statistics file of a saved model, beside it: ``model.zip`` -> ``vecnormalize.pkl``,
        ``step_N.zip`` -> ``step_N_vecnormalize.pkl`` (any other ``X.zip`` -> ``X_vecnormalize.pkl``)."""
        p = Path(model_path)
        if p.name == cls.MODEL_FILE:
            return p.with_name(cls.VECNORMALIZE_FILE)
        return p.with_name(f"{p.stem}{cls._STATS_SUFFIX}")

    # ------------------------------------------------------------------------------------------ resume
    def saved_checkpoints(self) -> list[tuple[int, Path]]:
        """``(steps, model path)`` of every checkpoint that has its statistics file, by steps."""
        out = []
        if self.checkpoints.is_dir():
            for p in self.checkpoints.iterdir():
                m = self._STEP_RE.match(p.name)
                if m and self.vecnormalize_for(p).is_file():
                    out.append((int(m.group(1)), p))
        return sorted(out)

    def resume_point(self) -> tuple[Path, Path, int]:
        """The newest saved model with its statistics: ``(model path, vecnormalize path, timesteps)``.

        Candidates are the checkpoints and ``model.zip`` that have their statistics file; the one with the
        most steps wins, ``model.zip`` on a tie. A checkpoint's steps come from its name, ``model.zip``'s
        from the ``num_timesteps`` saved in it.

        Raises:
            ModelError: ``model.zip`` (with statistics) is not a readable SB3 model.
            RunError: there is nothing to resume from.
        """
        candidates: list[tuple[int, int, Path]] = [(steps, 0, p) for steps, p in self.saved_checkpoints()]
        final = self.model
        if final.is_file() and self.vecnormalize_for(final).is_file():
            steps = _saved_timesteps(final)
            if steps is None:
                raise ModelError(f"{final}: not a readable Stable-Baselines3 model")
            candidates.append((steps, 1, final))
        if not candidates:
            raise RunError(f"{self.path}: nothing to resume (no {self.MODEL_FILE} or checkpoint with its statistics)")
        steps, _, path = max(candidates)
        return path, self.vecnormalize_for(path), steps

    # ------------------------------------------------------------------------------------------ saving
    def save(self, model: Any, venv: Any, model_path: str | os.PathLike | None = None) -> Path:
        """Save ``model`` (``model.save``) and ``venv``'s statistics (``venv.save``), each atomically.

        ``model_path`` defaults to :attr:`model`; the statistics go to :meth:`vecnormalize_for` it.
        Returns the model path.
        """
        target = self.model if model_path is None else Path(model_path)
        with atomic_path(target) as tmp:
            model.save(tmp)
        with atomic_path(self.vecnormalize_for(target)) as tmp:
            venv.save(str(tmp))
        return target

    def save_checkpoint(self, model: Any, venv: Any) -> Path:
        """:meth:`save` to the checkpoint of ``model.num_timesteps``; returns its model path."""
        return self.save(model, venv, self.checkpoint(model.num_timesteps))

    def clean_temp_files(self) -> list[Path]:
        """Remove temporary files a killed write left (``.NAME.tmp-*``, see :func:`racingline.io.atomic_path`)
        in the folder and its checkpoints; return what was removed."""
        removed = []
        for folder in (self._path, self.checkpoints):
            if folder.is_dir():
                for p in folder.glob(".*.tmp-*"):
                    with contextlib.suppress(OSError):
                        p.unlink()
                        removed.append(p)
        return removed

    def remove(self) -> None:
        """Delete the folder and everything in it (a run interrupted before it trained anything)."""
        shutil.rmtree(self._path, ignore_errors=True)

    def save_config(self, cfg: Config) -> Path:
        """Write ``cfg`` to :attr:`config` (atomically) and return the path."""
        return save_config(cfg, self.config)

    def load_config(self) -> Config:
        """The run's config, read from :attr:`config` (ConfigError when invalid)."""
        return load_config(self.config)

    # ------------------------------------------------------------------------------------------ dunder
    def __fspath__(self) -> str:
        return os.fspath(self._path)

    def __str__(self) -> str:
        return str(self._path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self._path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunFolder) and other.path == self._path

    def __hash__(self) -> int:
        return hash((RunFolder, self._path))


MODEL_FILE = RunFolder.MODEL_FILE
VECNORMALIZE_FILE = RunFolder.VECNORMALIZE_FILE
CONFIG_FILE = RunFolder.CONFIG_FILE
PROGRESS_FILE = RunFolder.PROGRESS_FILE
CHECKPOINTS_DIR = RunFolder.CHECKPOINTS_DIR
TENSORBOARD_DIR = RunFolder.TENSORBOARD_DIR
#: What a run folder holds (name -> meaning); see the module docstring.
RUN_LAYOUT = RunFolder.LAYOUT


def _saved_timesteps(model_path: Path) -> int | None:
    """``num_timesteps`` stored in an SB3 zip (read from its ``data`` entry), or None."""
    try:
        with zipfile.ZipFile(model_path) as zf:
            return int(json.loads(zf.read("data"))["num_timesteps"])
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile):
        return None


# ---------------------------------------------------------------------------------------------- free functions
# Thin wrappers of RunFolder returning plain paths, for callers that predate it.
def create_run_dir(name: str, runs_dir: str | os.PathLike = "runs", run_dir: str | os.PathLike | None = None) -> Path:
    """``RunFolder.create(name, runs_dir, run_dir).path``: a fresh run folder (see :meth:`RunFolder.create`)."""
    return RunFolder.create(name, runs_dir, run_dir).path


def vecnormalize_path(model_path: str | os.PathLike) -> Path:
    """The statistics file of a saved model (:meth:`RunFolder.vecnormalize_for`)."""
    return RunFolder.vecnormalize_for(model_path)


def checkpoint_path(run_dir: str | os.PathLike, timesteps: int) -> Path:
    """Where the checkpoint of ``timesteps`` steps goes (:meth:`RunFolder.checkpoint`)."""
    return RunFolder(run_dir).checkpoint(timesteps)


def resume_point(run_dir: str | os.PathLike) -> tuple[Path, Path, int]:
    """The newest saved model of a run with its statistics (:meth:`RunFolder.resume_point`)."""
    return RunFolder(run_dir).resume_point()


def resolve_run(run: str | os.PathLike, runs_dir: str | os.PathLike = "runs") -> Path:
    """An existing run folder's path (:meth:`RunFolder.open`)."""
    return RunFolder.open(run, runs_dir).path


# ---------------------------------------------------------------------------------------------- loading
@dataclass(frozen=True)
class LoadedRun:
    """A trained model with everything needed to rebuild its observation stack.

    Unpacks as ``model, config, run_dir = load_run(path)``.

    Attributes:
        model_path: the ``.zip`` loaded.
        run_dir: the folder holding ``config.yaml``.
        config: the run's full training config.
        stats_path: the ``VecNormalize`` statistics of the model, or ``None`` when the run has none.
        model: the loaded SB3 ``PPO`` model.
    """

    model_path: Path
    run_dir: Path
    config: Config
    stats_path: Path | None
    model: Any = field(repr=False)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.model, self.config, self.run_dir))

    @property
    def folder(self) -> RunFolder:
        """The run folder (:attr:`run_dir`) as a :class:`RunFolder`."""
        return RunFolder(self.run_dir)


def resolve_run_files(model: str | os.PathLike) -> tuple[Path, Path, Path | None]:
    """Find ``(model zip, config.yaml, VecNormalize statistics or None)`` for a run folder or a model file.

    ``model`` is a run folder (its ``model.zip``), a ``model.zip``, or a checkpoint ``.zip`` (its
    ``config.yaml`` is beside it or one folder up). Statistics, first found: the model's own
    (:meth:`RunFolder.vecnormalize_for`), SB3 ``CheckpointCallback`` style ``*vecnormalize_<steps>_steps.pkl``
    for ``*_<steps>_steps.zip``, then the ``vecnormalize.pkl`` beside the model or of the run.

    Raises:
        RunError: the folder or file is missing, or holds no model or no config.
    """
    raw = str(model)
    path = Path(raw).expanduser()
    if path.is_dir():
        run = RunFolder(path)
        model_path = run.model
        if not model_path.is_file():
            if run.config.is_file():
                raise RunError(f"{raw}: not a finished run folder (no {RunFolder.MODEL_FILE} yet); "
                               f"load one of its {RunFolder.CHECKPOINTS_DIR}/*.zip or resume its training")
            raise RunError(f"{raw}: not a run folder (no {RunFolder.MODEL_FILE} in it)")
    elif path.is_file():
        if path.suffix != ".zip":
            raise RunError(f"{raw}: expected a run folder or a model .zip file")
        model_path = path
    else:
        raise RunError(f"{raw}: no such run folder or model file")
    folder = model_path.parent
    run = next((RunFolder(d) for d in (folder, folder.parent) if RunFolder(d).config.is_file()), None)
    if run is None:
        raise RunError(f"{raw}: no {RunFolder.CONFIG_FILE} beside the model (or in its parent folder)")
    stats = [RunFolder.vecnormalize_for(model_path)]
    steps = _SB3_STEPS_RE.search(model_path.stem)
    if steps:
        stats += sorted(folder.glob(f"*vecnormalize_{steps.group(1)}_steps.pkl"))
    stats += [RunFolder(folder).vecnormalize, run.vecnormalize]
    stats_path = next((p for p in stats if p.is_file()), None)
    return model_path, run.config, stats_path


def load_run(model: str | os.PathLike | LoadedRun, device: str = "cpu") -> LoadedRun:
    """Load a run folder or model ``.zip`` (found by :func:`resolve_run_files`) with its config.

    The model is loaded for inference on ``device`` (no env attached; schedules replaced by constants).
    A :class:`LoadedRun` is returned as it is.

    Raises:
        RunError: files are missing, or normalised observations lack their statistics;
        ConfigError: ``config.yaml`` is invalid; ModelError: the model cannot be loaded.
    """
    if isinstance(model, LoadedRun):
        return model
    model_path, config_path, stats_path = resolve_run_files(model)
    cfg = load_config(config_path)
    if stats_path is None and cfg.norm_obs:
        raise RunError(f"{model}: the run normalises observations (norm_obs: true) "
                       f"but has no {RunFolder.VECNORMALIZE_FILE}")
    from stable_baselines3 import PPO

    # Schedules are not needed to act; constants avoid unpickling the training code's schedule objects.
    constant = {"learning_rate": 0.0, "lr_schedule": lambda _: 0.0, "clip_range": lambda _: 0.0}
    try:
        ppo = PPO.load(model_path, device=device, custom_objects=constant)
    except Exception as exc:  # noqa: BLE001 - zip, pickle, torch and SB3 errors all mean "not a usable model"
        raise ModelError(f"{model_path}: not a loadable Stable-Baselines3 PPO model ({describe(exc)})") from None
    return LoadedRun(model_path=model_path, run_dir=config_path.parent, config=cfg, stats_path=stats_path, model=ppo)


def load_vecnormalize(stats_path: str | os.PathLike, venv: Any) -> Any:
    """``VecNormalize.load(stats_path, venv)``; when they do not fit, ``venv`` is closed and a ModelError raised."""
    from stable_baselines3.common.vec_env import VecNormalize

    try:
        return VecNormalize.load(str(stats_path), venv)
    except Exception as exc:  # noqa: BLE001 - pickle and shape errors alike: the statistics cannot serve
        venv.close()
        raise ModelError(f"{stats_path}: normalisation statistics do not fit the environment or cannot be read "
                         f"({describe(exc)})") from None


def latest_run(runs_dir: str | os.PathLike = "runs") -> Path:
    """The run folder in ``runs_dir`` whose ``model.zip`` was written last (newest modification time).

    Raises:
        RunError: ``runs_dir`` is missing or holds no run with a ``model.zip`` (the message names it).
    """
    root = Path(runs_dir)
    if not root.is_dir():
        raise RunError(f"{runs_dir}: no such runs folder; train a model with `racingline train` or pass --model")
    runs = [RunFolder(d) for d in root.iterdir() if d.is_dir() and RunFolder(d).model.is_file()]
    if not runs:
        raise RunError(f"{runs_dir}: holds no run with a {RunFolder.MODEL_FILE}; train one or pass --model")
    return max(runs, key=lambda r: (r.model.stat().st_mtime, r.name)).path


def describe(exc: BaseException) -> str:
    """``"TypeName: first line of the message"`` of an exception, for one-line error messages."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else 'no details'}"
