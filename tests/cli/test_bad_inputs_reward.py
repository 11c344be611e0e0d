"""Bad reward files given to ``racingline train --reward FILE`` (with subprocess workers): one error line
naming the file, exit 1; no run folder when the file fails before training, a run folder whose model
loads when it fails during training."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import SCRATCH, BadInput, run_bad_input

NO_RUN = ("runs", "runs/*")
TRAIN = ("train", *SCRATCH, "--n-envs", "2", "--timesteps", "512", "--no-progress", "--track", "rounded_rectangle",
         "--config", "deepracer", "--set", "ppo.n_steps=128", "--set", "ppo.batch_size=128",
         "--set", "ppo.n_epochs=1", "--set", "env.start_waypoint=0", "--set", "env.reverse=false")


def _file(name: str, text: str):
    def setup(folder: Path) -> None:
        (folder / name).write_text(text)
    return setup


def _config(folder: Path) -> None:
    (folder / "sub").mkdir()
    (folder / "sub" / "c.yaml").write_text("env:\n  reward: nothere.py\n")


CASES = [
    BadInput("missing-file", (*TRAIN, "--reward", "nope.py"), ("nope.py", "no such reward file"), absent=NO_RUN),
    BadInput("folder", (*TRAIN, "--reward", "dir.py"), ("dir.py", "is a folder"), absent=NO_RUN,
             setup=lambda f: (f / "dir.py").mkdir()),
    BadInput("no-function", (*TRAIN, "--reward", "r.py"), ("r.py", "defines no reward_function"), absent=NO_RUN,
             setup=_file("r.py", "def reward(params):\n    return 1.0\n")),
    BadInput("syntax-error", (*TRAIN, "--reward", "r.py"), ("r.py", "line 3", "syntax error"), absent=NO_RUN,
             setup=_file("r.py", "def reward_function(params):\n    x = 1\n    return x +\n")),
    BadInput("import-error", (*TRAIN, "--reward", "r.py"), ("r.py", "line 1", "ModuleNotFoundError"), absent=NO_RUN,
             setup=_file("r.py", "import no_such_module_here\n\ndef reward_function(params):\n    return 1.0\n")),
    BadInput("exception-at-once", (*TRAIN, "--reward", "r.py"),
             ("r.py", "line 2", "in reward_function", "KeyError: 'speeed'", "agent step 1"), absent=NO_RUN,
             setup=_file("r.py", "def reward_function(params):\n    return params['speeed']\n")),
    BadInput("nan-return", (*TRAIN, "--reward", "r.py"), ("r.py", "returned nan", "agent step 1"), absent=NO_RUN,
             setup=_file("r.py", "def reward_function(params):\n    return float('nan')\n")),
    BadInput("string-return", (*TRAIN, "--reward", "r.py"), ("r.py", "returned '1'", "str", "agent step 1"),
             absent=NO_RUN, setup=_file("r.py", "def reward_function(params):\n    return '1'\n")),
    BadInput("unknown-name", (*TRAIN, "--set", "env.reward=fast"), ("env.reward", "fast", "reward file (.py)"),
             absent=NO_RUN),
    BadInput("config-relative", ("train", "--config", "sub/c.yaml", "--no-progress"),
             ("sub/nothere.py", "no such reward file"), absent=NO_RUN, setup=_config),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_reward_file(case, tmp_path):
    run_bad_input(case, tmp_path)


LATE = ("def reward_function(params):\n"
        "    if params['steps'] > 30:\n"
        "        raise RuntimeError('fails later')\n"
        "    return 1.0\n")


@pytest.mark.parametrize("vec_env", ["auto", "subproc"])
def test_error_during_training_keeps_a_loadable_run(tmp_path, vec_env):
    """The function fails after training started (in the trainer's env or in a worker's): one line with the
    file, line and exception, and the run folder holds a model that loads."""
    from stable_baselines3 import PPO

    case = BadInput(f"late-{vec_env}", (*TRAIN, "--reward", "late.py", "--set", f"vec_env={vec_env}"),
                    ("late.py", "line 3", "RuntimeError: fails later", "agent step 31", "saved in"),
                    setup=_file("late.py", LATE))
    run_bad_input(case, tmp_path)
    (run,) = (tmp_path / "runs").iterdir()
    assert (run / "config.yaml").is_file() and (run / "vecnormalize.pkl").is_file()
    PPO.load(run / "model.zip", device="cpu")
