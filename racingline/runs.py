"""Run folders: their layout, unique creation, the newest save to resume from, and loading a trained agent.

A run folder (``runs/<YYYYmmdd-HHMMSS>-<name>/`` unless given) holds everything needed to reload the agent::

    model.zip                         the final Stable-Baselines3 PPO model (also written on Ctrl-C)
    vecnormalize.pkl                  VecNormalize statistics for model.zip (``VecNormalize.load``)
    config.yaml                       the fully resolved config (``racingline.config.load_config`` reads it)
    progress.csv                      one row per PPO iteration (see ``racingline.training.PROGRESS_COLUMNS``)
    checkpoints/step_<N>.zip          a model every ``checkpoint_every`` env steps (N: 9 digits), and on Ctrl-C
    checkpoints/step_<N>_vecnormalize.pkl   its statistics
    tensorboard/                      TensorBoard logs, only when ``tensorboard`` is installed
"""

from __future__ import annotations

import json
import os
import re
import time
import zipfile
from pathlib import Path
from typing import Any

from racingline.config import Config, load_config
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
    "load_run",
    "latest_run",
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


def load_run(path: str | os.PathLike, device: str = "cpu") -> tuple[Any, Config, Path]:
    """Load a trained agent: ``(PPO model, Config, run folder)``.

    ``path`` is a run folder (its ``model.zip`` is loaded) or a model zip (``model.zip`` or a checkpoint;
    the run's ``config.yaml`` is found beside it, or one level up for checkpoints). The model is loaded
    for inference (no env attached; schedules replaced by constants). Statistics: :func:`vecnormalize_path`.
    """
    p = Path(path)
    if p.is_dir():
        run, model_path = p, p / MODEL_FILE
        if not model_path.is_file():
            raise RunError(f"{p}: not a finished run folder (no {MODEL_FILE})")
    elif p.is_file():
        model_path = p
        run = p.parent.parent if p.parent.name == CHECKPOINTS_DIR else p.parent
    else:
        raise RunError(f"{p}: no such run folder or model file")
    if not (run / CONFIG_FILE).is_file():
        raise RunError(f"{model_path}: no {CONFIG_FILE} in its run folder {run}")
    cfg = load_config(run / CONFIG_FILE)
    from stable_baselines3 import PPO

    constant = {"learning_rate": 0.0, "lr_schedule": lambda _: 0.0, "clip_range": lambda _: 0.0}
    try:
        model = PPO.load(model_path, device=device, custom_objects=constant)
    except Exception as exc:  # zip, pickle, torch and SB3 errors alike mean "not a usable model"
        raise ModelError(f"{model_path}: not a readable Stable-Baselines3 PPO model ({type(exc).__name__})") from None
    return model, cfg, run


def latest_run(runs_dir: str | os.PathLike = "runs") -> Path | None:
    """The run folder under ``runs_dir`` whose ``model.zip`` was written last, or None when there is none."""
    root = Path(runs_dir)
    if not root.is_dir():
        return None
    runs = [d for d in root.iterdir() if d.is_dir() and (d / MODEL_FILE).is_file()]
    if not runs:
        return None
    return max(runs, key=lambda d: ((d / MODEL_FILE).stat().st_mtime, d.name))
