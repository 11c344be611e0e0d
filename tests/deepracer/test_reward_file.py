"""DeepRacer reward files: loading, calling, errors as one line, subprocess workers, and brief trainings
with every shipped example (``examples/rewards/``)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from racingline.deepracer.reward_file import (
    FileReward,
    check_reward_in_env,
    is_reward_file,
    load_reward_function,
    raise_reward_error,
)
from racingline.errors import RacinglineError, RewardError
from racingline.resources import PROJECT_TRACKS_DIR
from racingline.sim.wrappers import make_env, make_vec_env

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "rewards"
ENV = {"obs": "features", "continuous": True, "frame_skip": 3, "terminate_on_off_track": True,
       "track": "rounded_rectangle"}


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_is_reward_file():
    assert is_reward_file("a/b.py") and is_reward_file(Path("x.PY"))
    assert not is_reward_file("progress") and not is_reward_file(None)


@pytest.mark.parametrize("text, fragments", [
    (None, ["no such reward file"]),
    ("x = 1\n", ["defines no reward_function(params)"]),
    ("reward_function = 3\n", ["reward_function is not a function"]),
    ("def reward_function(params):\n    return (1\n", ["line 2", "syntax error"]),
    ("import math\n\nraise ValueError('bad setup')\n", ["line 3", "ValueError: bad setup", "while importing"]),
])
def test_load_errors_are_one_line_naming_the_file(tmp_path, text, fragments):
    path = tmp_path / "reward.py"
    if text is not None:
        path.write_text(text)
    with pytest.raises(RewardError) as info:
        load_reward_function(path)
    message = str(info.value)
    assert isinstance(info.value, RacinglineError)
    assert "\n" not in message and str(path) in message
    for fragment in fragments:
        assert fragment in message


def test_folder_is_not_a_reward_file(tmp_path):
    with pytest.raises(RewardError, match="is a folder"):
        load_reward_function(tmp_path)


def test_file_reward_returns_the_function_value_and_reloads_changed_files(tmp_path):
    path = _write(tmp_path, "r.py", "def reward_function(params):\n    return params['progress'] + 2\n")
    env = make_env(**ENV, reward=str(path))
    env.reset(seed=0)
    _, r, _, _, info = env.step(np.array([0.0, 0.5, 0.0]))
    assert r == pytest.approx(info["progress"] + 2)
    assert "reward_error" not in info
    env.close()
    _write(tmp_path, "r.py", "import numpy as np\n\ndef reward_function(params):\n    return np.float32(0.5)  # new\n")
    assert FileReward(path)(env.state, env.state) == 0.5


@pytest.mark.parametrize("body, fragments", [
    ("    x = params['steps']\n    return 1 / (x - x)\n", ["line 4", "in reward_function", "ZeroDivisionError",
                                                          "agent step 1"]),
    ("    return params['no_such_key']\n", ["line 3", "KeyError: 'no_such_key'"]),
    ("    return float('nan')\n", ["returned nan", "agent step 1", "finite number"]),
    ("    return math.inf\n", ["returned inf"]),
    ("    return '1.0'\n", ["returned '1.0' (str)", "agent step 1"]),
    ("    return None\n", ["returned None"]),
])
def test_errors_inside_end_the_episode_with_one_line_in_info(tmp_path, body, fragments):
    path = _write(tmp_path, "r.py", "import math\ndef reward_function(params):\n" + body)
    env = make_env(**ENV, reward=str(path))
    env.reset(seed=0)
    _, r, terminated, _, info = env.step(np.array([0.0, 0.5, 0.0]))
    assert terminated and r == 0.0
    message = info["reward_error"]
    assert "\n" not in message and message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message
    with pytest.raises(RewardError) as raised:
        raise_reward_error([{}, info])
    assert str(raised.value) == message
    with pytest.raises(RewardError):  # the check run before training finds it
        check_reward_in_env({**ENV, "reward": str(path)})
    env.close()


def test_line_number_is_the_last_frame_in_the_users_file(tmp_path):
    path = _write(tmp_path, "r.py", "def helper(p):\n    return p['x'] / 0\n\n\ndef reward_function(params):\n"
                                    "    return helper(params)\n")
    env = make_env(**ENV, reward=str(path))
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([0.0, 0.5, 0.0]))
    assert ", line 2 in helper: ZeroDivisionError" in info["reward_error"]
    env.close()


def test_subprocess_workers_pass_the_error_on_as_data(tmp_path):
    path = _write(tmp_path, "late.py", "def reward_function(params):\n    if params['steps'] >= 3:\n"
                                       "        raise RuntimeError('late failure')\n    return 1.0\n")
    venv = make_vec_env(2, seed=0, vec_env="subproc", norm_reward=False, reward=str(path), **ENV)
    try:
        venv.reset()
        found = None
        for _ in range(5):
            _, _, _, infos = venv.step(np.tile([0.0, 0.5, 0.0], (2, 1)))
            found = found or next((i["reward_error"] for i in infos if "reward_error" in i), None)
        assert found is not None and "line 3" in found and "RuntimeError: late failure" in found
        assert "agent step 3" in found
    finally:
        venv.close()


@pytest.fixture(scope="module")
def example_dir(tmp_path_factory) -> Path:
    """The shipped examples, with a racing line for rounded_rectangle exported next to them."""
    from racingline.lines.export import export_line
    from racingline.lines.optimize import optimize_line
    from racingline.tracks.files import load_track

    folder = tmp_path_factory.mktemp("rewards")
    for path in EXAMPLES.glob("*.py"):
        shutil.copy(path, folder / path.name)
    line = optimize_line(load_track(PROJECT_TRACKS_DIR / "rounded_rectangle.npy"), "centerline")
    export_line(line, "py", folder / "racing_line.py")
    return folder


SHIPPED = ["follow_centerline.py", "stay_inside_borders.py", "prevent_zigzag.py", "speed_and_progress.py",
           "follow_racing_line.py"]


def test_every_example_is_shipped():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_examples_reward_the_centerline_more_than_the_edge(example_dir, name):
    fn = load_reward_function(example_dir / name)
    env = make_env(**ENV, reward=str(example_dir / name))
    env.reset(seed=0)
    for _ in range(20):
        _, r, terminated, _, info = env.step(np.array([0.0, 0.6, 0.0]))
        assert math.isfinite(r) and "reward_error" not in info
        assert not terminated
    from racingline.deepracer.params import reward_params

    p = reward_params(env.state)
    on_line = float(fn({**p, "distance_from_center": 0.0, "speed": 2.0, "steering_angle": 0.0}))
    far = float(fn({**p, "distance_from_center": 0.3 * p["track_width"], "x": p["x"] + 0.3 * p["track_width"],
                    "all_wheels_on_track": False, "is_offtrack": True}))
    assert on_line > far
    env.close()


@pytest.mark.parametrize("name", SHIPPED)
def test_brief_training_with_each_example(example_dir, tmp_path, name):
    from racingline.train.training import resolve_config, train

    cfg = resolve_config("deepracer", ["ppo.n_steps=128", "ppo.batch_size=128", "ppo.n_epochs=1",
                                       "env.reverse=false", "env.start_waypoint=0", "checkpoint_every=0"],
                         timesteps=256, n_envs=2, tracks=["rounded_rectangle"], reward=example_dir / name)
    assert cfg.env.reward == str((example_dir / name).resolve())
    run = train(cfg, run_dir=tmp_path / "run", progress=False)
    assert (run / "model.zip").is_file()
    assert (run / "reward_function.py").read_bytes() == (example_dir / name).read_bytes()  # the record
