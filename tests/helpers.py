"""Helpers shared by the tests (``from helpers import ...``; pytest puts tests/ on sys.path)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from racingline.train.config import Config, EnvConfig, EvalConfig, save_config

#: The track tiny runs are trained on.
TINY_TRACK = "rounded_rectangle"

#: ``racingline train`` arguments that train the config's PPO alone: no demonstrations recorded and cloned
#: first, no model chosen at the end (the default config does both; most tests train a few steps).
SCRATCH = ("--set", "demos.episodes=0", "--set", "select.generated=0")


def make_tiny_run(folder: Path, obs: str = "features") -> Path:
    """A run folder holding a tiny PPO model trained for 256 steps, its VecNormalize stats and config.

    ``obs="pixels"`` stacks 4 frames, like the default config. The config's eval tracks are
    ``rounded_rectangle`` and ``kidney``.
    """
    import torch
    from stable_baselines3 import PPO

    from racingline.sim.wrappers import make_vec_env

    torch.set_num_threads(1)
    stack = 4 if obs == "pixels" else 1
    env = EnvConfig(track=TINY_TRACK, obs=obs, renderer="pygame", frame_stack=stack, max_episode_steps=300)
    cfg = Config(name=f"tiny-{obs}", n_envs=1, vec_env="dummy", env=env,
                 eval=EvalConfig(tracks=[TINY_TRACK, "kidney"]))
    venv = make_vec_env(1, seed=0, obs=obs, track=TINY_TRACK, renderer="pygame", frame_stack=stack,
                        norm_reward=True, vec_env="dummy")
    model = PPO("MlpPolicy", venv, n_steps=128, batch_size=64, n_epochs=1, seed=0, device="cpu",
                policy_kwargs={"net_arch": [16]})
    model.learn(256)
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.zip")
    venv.save(str(folder / "vecnormalize.pkl"))
    save_config(cfg, folder / "config.yaml")
    venv.close()
    return folder


def copy_run(src: Path, dest: Path, **config_changes) -> Path:
    """Copy a run folder; ``config_changes`` (``"env.obs": "pixels"``, ``norm_obs=True``) edit its config.yaml."""
    shutil.copytree(src, dest)
    if config_changes:
        data = yaml.safe_load((dest / "config.yaml").read_text())
        for key, value in config_changes.items():
            section, _, name = key.rpartition(".")
            (data[section] if section else data)[name] = value
        (dest / "config.yaml").write_text(yaml.safe_dump(data))
    return dest


# ---------------------------------------------------------------------------------------------- bad inputs
@dataclass(frozen=True)
class BadInput:
    """One row of a table-driven bad-input test: a ``racingline`` command that must fail cleanly.

    Attributes:
        id: the row's test id.
        args: the command's arguments (after ``racingline``); ``{tmp}`` is replaced by the case's folder.
        expect: fragments the single ``error:`` line must contain (case-insensitive).
        code: the expected exit code.
        absent: paths (relative to the case's folder, globs allowed) that must not exist afterwards.
        setup: makes the case's input files in its folder before the command runs.
    """

    id: str
    args: tuple[str, ...]
    expect: tuple[str, ...]
    code: int = 1
    absent: tuple[str, ...] = ()
    setup: Callable[[Path], None] | None = None


def run_bad_input(case: BadInput, folder: Path, *, timeout_s: float = 120.0) -> str:
    """Run ``case`` as a real process in ``folder``; assert one clean error line, the exit code and that
    nothing listed in ``absent`` (nor any temporary file) was left. Returns the error line."""
    folder.mkdir(parents=True, exist_ok=True)
    if case.setup is not None:
        case.setup(folder)
    before = {p for p in folder.rglob("*")}
    args = [a.replace("{tmp}", str(folder)) for a in case.args]
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", "MPLBACKEND": "Agg",
           "XDG_CACHE_HOME": str(folder / ".cache")}
    env.pop("RACINGLINE_TRACKS", None)
    proc = subprocess.run([sys.executable, "-m", "racingline.cli", *args], cwd=folder, capture_output=True,
                          text=True, timeout=timeout_s, env=env, stdin=subprocess.DEVNULL)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    where = f"racingline {' '.join(args)}\nstdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-4000:]}"
    assert proc.returncode == case.code, f"exit {proc.returncode}, expected {case.code}\n{where}"
    assert "Traceback" not in proc.stderr, where
    assert len(lines) == 1 and lines[0].startswith("error: "), f"not one error line\n{where}"
    for fragment in case.expect:
        assert fragment.lower() in lines[0].lower(), f"{fragment!r} not in the error line\n{where}"
    for pattern in case.absent:
        left = sorted(str(p) for p in folder.glob(pattern))
        assert not left, f"left behind: {left}\n{where}"
    stray = sorted(str(p) for p in set(folder.rglob("*")) - before if ".tmp-" in p.name)  # io.atomic_path's
    assert not stray, f"temporary files left: {stray}\n{where}"
    return lines[0]
