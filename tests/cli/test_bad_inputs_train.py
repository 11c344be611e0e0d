"""Bad inputs to ``racingline train`` (with subprocess workers): one error line, exit 1, no run folder.

Every row runs a real ``racingline train --n-envs 2`` process; validation happens in the main process
before any worker starts or any folder is made, so each row takes about a second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from racingline.resources import PROJECT_TRACKS_DIR

from helpers import SCRATCH, BadInput, run_bad_input

NO_RUN = ("runs", "runs/*")
TRAIN = ("train", *SCRATCH, "--n-envs", "2", "--timesteps", "4096", "--no-progress")


def _track(folder: Path, name: str, array: np.ndarray) -> None:
    np.save(folder / name, array)


def _kidney() -> np.ndarray:
    return np.load(PROJECT_TRACKS_DIR / "kidney.npy")


def _nan(folder: Path) -> None:
    a = _kidney()
    a[5, 0] = np.nan
    _track(folder, "nan.npy", a)


def _shape(folder: Path) -> None:
    _track(folder, "shape.npy", _kidney()[:, :4])


def _crossing(folder: Path) -> None:
    t = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    center = np.stack([10 * np.sin(t), 5 * np.sin(2 * t)], axis=1)  # a figure eight
    _track(folder, "eight.npy", np.concatenate([center, center + 0.3, center - 0.3], axis=1))


def _bad_glob(folder: Path) -> None:
    _nan(folder)
    (folder / "nan.npy").rename(folder / "pool_a.npy")
    np.save(folder / "pool_b.npy", _kidney())


def _empty_yaml(folder: Path) -> None:
    (folder / "empty.yaml").write_text("# nothing here\n")


CASES = [
    BadInput("nan-track", (*TRAIN, "--track", "nan.npy"), ("nan.npy", "non-finite"), absent=NO_RUN, setup=_nan),
    BadInput("wrong-shape", (*TRAIN, "--track", "shape.npy"), ("shape.npy", "shape"), absent=NO_RUN, setup=_shape),
    BadInput("self-intersecting", (*TRAIN, "--track", "eight.npy"), ("eight.npy", "intersects itself"),
             absent=NO_RUN, setup=_crossing),
    BadInput("glob-with-a-bad-file", (*TRAIN, "--track", "{tmp}/pool_*.npy"), ("pool_a.npy", "non-finite"),
             absent=NO_RUN, setup=_bad_glob),
    BadInput("missing-track", (*TRAIN, "--track", "no_such_track"), ("no_such_track",), absent=NO_RUN),
    BadInput("glob-matching-nothing", (*TRAIN, "--track", "{tmp}/none_*.npy"), ("none_*.npy", "no track files"),
             absent=NO_RUN),
    BadInput("learning-rate-negative", (*TRAIN, "--set", "ppo.learning_rate=-1"),
             ("ppo.learning_rate", "-1", "(0, 1]"), absent=NO_RUN),
    BadInput("learning-rate-zero", (*TRAIN, "--set", "ppo.learning_rate=0"), ("ppo.learning_rate", "(0, 1]"),
             absent=NO_RUN),
    BadInput("gamma-2", (*TRAIN, "--set", "ppo.gamma=2"), ("ppo.gamma", "got 2", "(0, 1]"), absent=NO_RUN),
    BadInput("gae-lambda-5", (*TRAIN, "--set", "ppo.gae_lambda=5"), ("ppo.gae_lambda", "[0, 1]"), absent=NO_RUN),
    BadInput("clip-range-negative", (*TRAIN, "--set", "ppo.clip_range=-0.2"), ("ppo.clip_range", "-0.2"),
             absent=NO_RUN),
    BadInput("max-grad-norm-negative", (*TRAIN, "--set", "ppo.max_grad_norm=-1"), ("ppo.max_grad_norm", "(0, inf)"),
             absent=NO_RUN),
    BadInput("ent-coef-negative", (*TRAIN, "--set", "ppo.ent_coef=-0.01"), ("ppo.ent_coef", "[0, inf)"),
             absent=NO_RUN),
    BadInput("batch-larger-than-rollout", (*TRAIN, "--set", "ppo.batch_size=4096", "--set", "ppo.n_steps=256"),
             ("ppo.batch_size", "4096", "256 x 2 = 512"), absent=NO_RUN),
    BadInput("empty-track-list", (*TRAIN, "--set", "env.track=[]"), ("env.track", "at least one track"),
             absent=NO_RUN),
    BadInput("max-episode-steps-zero", (*TRAIN, "--set", "env.max_episode_steps=0"), ("env.max_episode_steps",),
             absent=NO_RUN),
    BadInput("start-waypoint-beyond-track", (*TRAIN, "--track", "kidney", "--set", "env.start_waypoint=5000"),
             ("env.start_waypoint", "5000", "kidney", "0-125"), absent=NO_RUN),
    BadInput("weights-for-other-tracks", (*TRAIN, "--set", "env.track_weights=[1, 2]"),
             ("env.track_weights", "one weight per track"), absent=NO_RUN),
    BadInput("eval-track-missing", (*TRAIN, "--set", "eval.tracks=[kidney, no_such_eval_track]"),
             ("eval.tracks", "no_such_eval_track"), absent=NO_RUN),
    BadInput("empty-config-file", ("train", "--config", "empty.yaml", "--no-progress"), ("empty.yaml", "empty"),
             absent=NO_RUN, setup=_empty_yaml),
    BadInput("unknown-key", (*TRAIN, "--set", "ppo.learning_rat=1e-3"), ("ppo.learning_rat", "unknown"),
             absent=NO_RUN),
    BadInput("wrong-type", (*TRAIN, "--set", "ppo.n_epochs=many"), ("ppo.n_epochs", "integer"), absent=NO_RUN),
    BadInput("bad-choice", (*TRAIN, "--set", "env.obs=radar"), ("env.obs", "pixels, features"), absent=NO_RUN),
    BadInput("seed-negative", (*TRAIN, "--seed", "-3"), ("seed", "-3"), absent=NO_RUN),
    BadInput("name-with-slash", (*TRAIN, "--set", "name=a/b"), ("name", "folder name"), absent=NO_RUN),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_train_rejects_bad_input_before_anything_starts(case, tmp_path):
    run_bad_input(case, tmp_path)
