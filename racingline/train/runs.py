"""Run folders: their layout, unique creation, the newest save to resume from, and loading a trained agent.

A run folder (``runs/<YYYYmmdd-HHMMSS>-<name>/`` unless given) holds everything needed to reload the agent::

    model.zip                         the final Stable-Baselines3 PPO model (also written on Ctrl-C)
    vecnormalize.pkl                  VecNormalize statistics for model.zip (``VecNormalize.load``)
    config.yaml                       the fully resolved config (``racingline.train.config.load_config`` reads it)
    progress.csv                      one row per PPO iteration (see ``racingline.train.training.PROGRESS_COLUMNS``)
    checkpoints/step_<N>.zip          a model every ``checkpoint_every`` env steps (N: 9 digits), and on Ctrl-C
    checkpoints/step_<N>_vecnormalize.pkl   its statistics
    tensorboard/                      TensorBoard logs, only when ``tensorboard`` is installed

Loading (:func:`load_run`) is the one way to get a trained agent back, for evaluation, pictures and tests:
it finds a run's model, config and statistics (:func:`resolve_run_files`) and loads them as a
:class:`LoadedRun`; :func:`latest_run` picks the newest run of a runs folder.
"""

from __future__ import annotations

import json
import os
import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from racingline.train.config import Config, load_config
from racingline.errors import ModelError, RunError

__all__ = [
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

MODEL_FILE = "model.zip"
VECNORMALIZE_FILE = "vecnormalize.pkl"
CONFIG_FILE = "config.yaml"
PROGRESS_FILE = "progress.csv"
CHECKPOINTS_DIR = "checkpoints"
TENSORBOARD_DIR = "tensorboard"
#: What a run folder holds (name -> meaning); see the module docstring.
RUN_LAYOUT = {
    MODEL_FILE: "final Stable-Baselines3 PPO model",
    VECNORMALIZE_FILE: "VecNormalize statistics of model.zip",
    CONFIG_FILE: "fully resolved config",
    PROGRESS_FILE: "training log, one row per PPO iteration",
    f"{CHECKPOINTS_DIR}/step_<N>.zip": "checkpoint model every checkpoint_every steps (N zero-padded to 9 digits)",
    f"{CHECKPOINTS_DIR}/step_<N>_vecnormalize.pkl": "its VecNormalize statistics",
    f"{TENSORBOARD_DIR}/": "TensorBoard logs (only when tensorboard is installed)",
}
_STEP_RE = re.compile(r"^step_(\d+)\.zip$")
_SB3_STEPS_RE = re.compile(r"_(\d+)_steps$")


def create_run_dir(name: str, runs_dir: str | os.PathLike = "runs", run_dir: str | os.PathLike | None = None) -> Path:
    """Create a fresh run folder ``runs_dir/<YYYYmmdd-HHMMSS>-<name>`` (``-2``, ``-3``... on collision).

    Folders are made with ``os.mkdir``, which fails when the folder exists, so two trainings started at
    the same time never share one. An explicit ``run_dir`` may exist but must not hold a run already.
    """
    if run_dir is not None:
        path = Path(run_dir)
        if path.exists() and not path.is_dir():
            raise RunError(f"{path}: exists and is not a folder")
        for held in (MODEL_FILE, CONFIG_FILE):
            if (path / held).exists():
                raise RunError(f"{path}: already holds a run ({held}); choose another --run-dir or --resume it")
        path.mkdir(parents=True, exist_ok=True)
        return path
    root = Path(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', name) or 'run'}"
    for i in range(1, 10_000):
        path = root / (base if i == 1 else f"{base}-{i}")
        try:
            os.mkdir(path)
        except FileExistsError:
            continue
        return path
    raise RunError(f"{root}: could not create a new run folder named {base}-N")


def vecnormalize_path(model_path: str | os.PathLike) -> Path:
    """The statistics file of a saved model: ``model.zip`` -> ``vecnormalize.pkl``, ``step_N.zip`` -> ``step_N_vecnormalize.pkl``."""
    p = Path(model_path)
    if p.name == MODEL_FILE:
        return p.with_name(VECNORMALIZE_FILE)
    return p.with_name(f"{p.stem}_vecnormalize.pkl")


def _saved_timesteps(model_path: Path) -> int | None:
    """``num_timesteps`` stored in an SB3 zip (read from its ``data`` entry), or None."""
    try:
        with zipfile.ZipFile(model_path) as zf:
            return int(json.loads(zf.read("data"))["num_timesteps"])
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile):
        return None


def checkpoint_path(run_dir: str | os.PathLike, timesteps: int) -> Path:
    """Where the checkpoint of ``timesteps`` steps goes: ``run_dir/checkpoints/step_<9 digits>.zip``."""
    return Path(run_dir) / CHECKPOINTS_DIR / f"step_{timesteps:09d}.zip"


def resume_point(run_dir: str | os.PathLike) -> tuple[Path, Path, int]:
    """The newest saved model of a run with its statistics: ``(model path, vecnormalize path, timesteps)``."""
    run = Path(run_dir)
    candidates: list[tuple[int, int, Path]] = []
    ckpt_dir = run / CHECKPOINTS_DIR
    if ckpt_dir.is_dir():
        for p in ckpt_dir.iterdir():
            m = _STEP_RE.match(p.name)
            if m and vecnormalize_path(p).is_file():
                candidates.append((int(m.group(1)), 0, p))
    final = run / MODEL_FILE
    if final.is_file() and vecnormalize_path(final).is_file():
        steps = _saved_timesteps(final)
        if steps is None:
            raise ModelError(f"{final}: not a readable Stable-Baselines3 model")
        candidates.append((steps, 1, final))
    if not candidates:
        raise RunError(f"{run}: nothing to resume (no {MODEL_FILE} or checkpoint with its statistics)")
    steps, _, path = max(candidates)
    return path, vecnormalize_path(path), steps


def resolve_run(run: str | os.PathLike, runs_dir: str | os.PathLike = "runs") -> Path:
    """An existing run folder: ``run`` itself, or ``runs_dir/run``; it must hold a ``config.yaml``."""
    p = Path(run)
    if not p.is_dir() and (Path(runs_dir) / p).is_dir():
        p = Path(runs_dir) / p
    if not p.is_dir():
        raise RunError(f"{run}: no such run folder")
    if not (p / CONFIG_FILE).is_file():
        raise RunError(f"{p}: not a run folder (no {CONFIG_FILE})")
    return p


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


def resolve_run_files(model: str | os.PathLike) -> tuple[Path, Path, Path | None]:
    """Find ``(model zip, config.yaml, VecNormalize statistics or None)`` for a run folder or a model file.

    ``model`` is a run folder (its ``model.zip``), a ``model.zip``, or a checkpoint ``.zip`` (its
    ``config.yaml`` is beside it or one folder up). Statistics, first found: the model's own
    (:func:`vecnormalize_path`), SB3 ``CheckpointCallback`` style ``*vecnormalize_<steps>_steps.pkl`` for
    ``*_<steps>_steps.zip``, then the ``vecnormalize.pkl`` beside the model or of the run.

    Raises:
        RunError: the folder or file is missing, or holds no model or no config.
    """
    raw = str(model)
    path = Path(raw).expanduser()
    if path.is_dir():
        model_path = path / MODEL_FILE
        if not model_path.is_file():
            if (path / CONFIG_FILE).is_file():
                raise RunError(f"{raw}: not a finished run folder (no {MODEL_FILE} yet); "
                               f"load one of its {CHECKPOINTS_DIR}/*.zip or resume its training")
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
    stats = [vecnormalize_path(model_path)]
    steps = _SB3_STEPS_RE.search(model_path.stem)
    if steps:
        stats += sorted(folder.glob(f"*vecnormalize_{steps.group(1)}_steps.pkl"))
    stats += [folder / VECNORMALIZE_FILE, config_path.parent / VECNORMALIZE_FILE]
    stats_path = next((p for p in stats if p.is_file()), None)
    return model_path, config_path, stats_path


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
        raise RunError(f"{model}: the run normalises observations (norm_obs: true) but has no {VECNORMALIZE_FILE}")
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
    runs = [d for d in root.iterdir() if d.is_dir() and (d / MODEL_FILE).is_file()]
    if not runs:
        raise RunError(f"{runs_dir}: holds no run with a {MODEL_FILE}; train one or pass --model")
    return max(runs, key=lambda d: ((d / MODEL_FILE).stat().st_mtime, d.name))


def describe(exc: BaseException) -> str:
    """``"TypeName: first line of the message"`` of an exception, for one-line error messages."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else 'no details'}"
