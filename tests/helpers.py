"""Helpers shared by the tests (``from helpers import ...``; pytest puts tests/ on sys.path)."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from racingline.train.config import Config, EnvConfig, EvalConfig, save_config

#: The track tiny runs are trained on.
TINY_TRACK = "rounded_rectangle"


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
