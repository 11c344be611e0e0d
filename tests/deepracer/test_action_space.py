"""DeepRacer action spaces: model_metadata.json parsing, the steering/speed controller, the wrapper, the config
key, the run folder's model_metadata.json and a brief training + eval with each kind of space."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from gymnasium import spaces
from gymnasium.error import InvalidAction
from gymnasium.utils.env_checker import check_env
from typer.testing import CliRunner

from racingline.cli import app
from racingline.deepracer.action_space import (
    ActionSpace,
    ActionSpaceError,
    DeepRacerActions,
    load_action_space,
    model_metadata,
    parse_action_space,
    wheel_angle_rad,
    write_model_metadata,
)
from racingline.errors import RacinglineError
from racingline.lines.export import discrete_action_space, export_line
from racingline.lines.line import RacingLine
from racingline.sim.env import DeepRacerEnv
from racingline.sim.wrappers import make_env
from racingline.tracks.files import load_track
from racingline.train.config import apply_overrides, load_config

from helpers import SCRATCH

DISCRETE = {
    "action_space": [
        {"steering_angle": -30, "speed": 0.6, "index": 0},
        {"steering_angle": 0, "speed": 2.0, "index": 1},
        {"steering_angle": 15, "speed": 1.0, "index": 2},
        {"steering_angle": 30, "speed": 0.6, "index": 3},
    ],
    "sensor": ["FRONT_FACING_CAMERA"], "neural_network": "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW",
    "training_algorithm": "clipped_ppo", "action_space_type": "discrete", "version": "5",
}
CONTINUOUS = {
    "action_space": {"steering_angle": {"high": 30.0, "low": -30.0}, "speed": {"high": 4.0, "low": 0.5}},
    "sensor": ["FRONT_FACING_CAMERA"], "neural_network": "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW",
    "training_algorithm": "clipped_ppo", "action_space_type": "continuous", "version": "5",
}


def write(folder: Path, name: str, payload) -> Path:
    path = folder / name
    path.write_text(json.dumps(payload) if not isinstance(payload, str) else payload)
    return path


# --- parsing ----------------------------------------------------------------------------------------

def test_discrete_file_is_parsed_in_index_order(tmp_path):
    data = json.loads(json.dumps(DISCRETE))
    data["action_space"].reverse()  # indices, not list order, number the actions
    space = load_action_space(write(tmp_path, "m.json", data))
    assert space.discrete and space.n == 4
    assert space.actions == ((-30.0, 0.6), (0.0, 2.0), (15.0, 1.0), (30.0, 0.6))
    assert space.steering_range == (-30.0, 30.0) and space.speed_range == (0.6, 2.0)
    assert space.gym_space() == spaces.Discrete(4)


def test_discrete_without_index_and_without_type_uses_list_order():
    space = parse_action_space({"action_space": [{"steering_angle": 5, "speed": 1}, {"steering_angle": -5, "speed": 3}]})
    assert space.type == "discrete" and space.actions == ((5.0, 1.0), (-5.0, 3.0))


def test_continuous_file_and_its_normalised_mapping(tmp_path):
    space = load_action_space(write(tmp_path, "c.json", CONTINUOUS))
    assert not space.discrete and space.steering_range == (-30.0, 30.0) and space.speed_range == (0.5, 4.0)
    assert space.gym_space() == spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
    assert space.target([-1, -1])[:2] == (-30.0, 0.5)
    assert space.target([1, 1])[:2] == (30.0, 4.0)
    assert space.target([0, 0])[:2] == pytest.approx((0.0, 2.25))
    assert space.target([5, -7])[:2] == (30.0, 0.5)  # clipped to [-1, 1] first


def test_invalid_agent_actions_are_refused():
    disc = parse_action_space(DISCRETE)
    cont = parse_action_space(CONTINUOUS)
    for bad in (4, -1, 1.5):
        with pytest.raises(InvalidAction):
            disc.target(bad)
    for bad in ([np.nan, 0], [0, 0, 0], 1.0):
        with pytest.raises(InvalidAction):
            cont.target(bad)
    assert disc.target(np.int64(2)) == (15.0, 1.0, 2)


def test_written_metadata_loads_back_with_the_same_space(tmp_path):
    for data in (DISCRETE, CONTINUOUS):
        space = parse_action_space(data)
        path = write_model_metadata(space, tmp_path / "model_metadata.json", obs="pixels")
        again = load_action_space(path)
        assert again == space
        meta = json.loads(path.read_text())
        assert meta["sensor"] == ["FRONT_FACING_CAMERA"] and meta["action_space_type"] == space.type
    assert model_metadata(parse_action_space(DISCRETE), obs="features")["sensor"] == ["RACINGLINE_FEATURES"]


def _kidney_line() -> RacingLine:
    track = load_track("kidney")
    v = np.clip(np.sqrt(2.5 / np.maximum(np.abs(track.curvature_1pm), 1e-3)), 0.8, 3.9)
    return RacingLine(track.center, "kidney", "centerline", 0.0, False, v, {})


def test_line_export_is_accepted_as_an_action_space(tmp_path):
    line = _kidney_line()
    space = load_action_space(export_line(line, "model_metadata.json", tmp_path / "model_metadata.json", actions=7))
    assert space.discrete and 2 <= space.n <= 7
    assert [{"steering_angle": a, "speed": v} for a, v in space.actions] == discrete_action_space(line, 7)
    cont = load_action_space(export_line(line, "continuous.json", tmp_path / "continuous.json"))
    assert not cont.discrete and cont.speed_range[0] < cont.speed_range[1] <= 4.0


def test_action_space_error_is_a_racingline_error():
    assert issubclass(ActionSpaceError, RacinglineError)
    with pytest.raises(ActionSpaceError, match="x.json: action 0: speed 5 m/s"):
        parse_action_space({"action_space": [{"steering_angle": 0, "speed": 5}]}, "x.json")


# --- steering and speed -----------------------------------------------------------------------------

def test_steering_mapping_is_the_same_kinematic_turn():
    assert wheel_angle_rad(0.0) == 0.0
    assert wheel_angle_rad(15.0) == pytest.approx(0.2074, abs=1e-3)
    assert wheel_angle_rad(-15.0) == -wheel_angle_rad(15.0)
    assert wheel_angle_rad(30.0) == 0.4 and wheel_angle_rad(28.0) < 0.4
    angles = [wheel_angle_rad(d) for d in np.linspace(-30, 30, 61)]
    assert all(b >= a for a, b in zip(angles, angles[1:]))


def _env(actions, frame_skip=2, track="rounded_rectangle"):
    space = parse_action_space({"action_space": [{"steering_angle": a, "speed": v} for a, v in actions]})
    return DeepRacerActions(DeepRacerEnv(track, obs="features", continuous=True, frame_skip=frame_skip,
                                         reward="progress"), space)


@pytest.mark.parametrize("frame_skip", [2, 4])
def test_constant_action_on_a_straight_converges_to_its_speed(frame_skip):
    env = _env([(0, 2.0), (0, 1.0)], frame_skip)
    env.reset(seed=0)
    speeds = []
    for _ in range(int(3.0 * 50 / frame_skip)):  # 3 s
        _, _, terminated, _, info = env.step(0)
        assert not terminated and not info["off_track"]
        speeds.append(info["speed_mps"])
    assert speeds[-1] == pytest.approx(2.0, abs=0.1)
    assert max(speeds) < 2.2  # no large overshoot
    assert info["action_steering_deg"] == 0.0 and info["action_speed_mps"] == 2.0 and info["action_index"] == 0
    for _ in range(int(1.5 * 50 / frame_skip)):  # then slower: it brakes to 1 m/s
        _, _, _, _, info = env.step(1)
    assert info["speed_mps"] == pytest.approx(1.0, abs=0.1)


def _heading_change(env, action, seconds=0.6):
    env.reset(seed=0)
    for _ in range(3):
        env.step(0)  # get rolling straight
    start = env.unwrapped.state.angle
    for _ in range(int(seconds * 50 / env.unwrapped.frame_skip)):
        env.step(action)
    return env.unwrapped.state.angle - start, env.unwrapped.state


def test_positive_steering_angle_turns_left():
    env = _env([(0, 1.0), (15, 1.0), (-15, 1.0)])
    left, state = _heading_change(env, 1)
    assert left > 0.2 and state.steer_angle > 0.15 and state.yaw_rate > 0  # CarRacing angle: + is left
    right, state = _heading_change(env, 2)
    assert right < -0.2 and state.steer_angle < -0.15
    assert left == pytest.approx(-right, rel=0.1)


# --- the wrapper ------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:.*different from the unwrapped version")  # checking the wrapper is the point
@pytest.mark.parametrize("data", [DISCRETE, CONTINUOUS], ids=["discrete", "continuous"])
def test_wrapper_spaces_and_gymnasium_check(data, tmp_path):
    path = write(tmp_path, "m.json", data)
    env = make_env("kidney", obs="features", action_space=str(path))
    assert isinstance(env, DeepRacerActions) and env.unwrapped.continuous
    assert env.action_space == parse_action_space(data).gym_space()
    check_env(env, skip_render_check=True)
    env.reset(seed=1)
    _, _, _, _, info = env.step(env.action_space.sample())
    assert -30 <= info["action_steering_deg"] <= 30 and 0 < info["action_speed_mps"] <= 4


def test_wrapper_needs_a_continuous_deepracer_env():
    with pytest.raises(ValueError, match="continuous=True"):
        DeepRacerActions(DeepRacerEnv("kidney", obs="features"), parse_action_space(DISCRETE))
    assert isinstance(make_env("kidney", obs="features", action_space=parse_action_space(DISCRETE)).space,
                      ActionSpace)


# --- config -----------------------------------------------------------------------------------------

def test_config_key_is_relative_to_the_config_file_and_made_absolute(tmp_path, monkeypatch):
    folder = tmp_path / "cfgs"
    folder.mkdir()
    write(folder, "actions.json", DISCRETE)
    (folder / "c.yaml").write_text(yaml.safe_dump({"env": {"obs": "features", "action_space": "actions.json"}}))
    monkeypatch.chdir(tmp_path)
    cfg = load_config(folder / "c.yaml")
    assert cfg.env.action_space == str((folder / "actions.json").resolve())
    write(tmp_path, "cont.json", CONTINUOUS)
    cfg2 = apply_overrides(cfg, ["env.action_space=cont.json"])  # on the command line: the working folder
    assert cfg2.env.action_space == str(tmp_path / "cont.json")
    assert apply_overrides(cfg2, ["env.action_space=null"]).env.action_space is None
    with pytest.raises(ActionSpaceError, match="missing.json: no such action-space file"):
        apply_overrides(cfg, ["env.action_space=missing.json"])


# --- training and evaluation ------------------------------------------------------------------------

TRAIN = ("train", *SCRATCH, "--timesteps", "512", "--n-envs", "2", "--track", "rounded_rectangle", "--set", "env.obs=features",
         "--set", "ppo.n_steps=128", "--set", "ppo.batch_size=128", "--set", "ppo.n_epochs=1",
         "--set", "eval.tracks=[kidney]", "--no-progress")


@pytest.mark.parametrize("data", [DISCRETE, CONTINUOUS], ids=["discrete", "continuous"])
def test_brief_training_then_eval_with_an_action_space(data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = write(tmp_path, "my_actions.json", data)
    run = tmp_path / "run"
    result = CliRunner().invoke(app, [*TRAIN, "--action-space", "my_actions.json", "--run-dir", str(run)])
    assert result.exit_code == 0, result.output
    meta = json.loads((run / "model_metadata.json").read_text())
    assert meta["sensor"] == ["RACINGLINE_FEATURES"] and meta["racingline"]["obs"] == "features"
    assert load_action_space(run / "model_metadata.json") == parse_action_space(data)
    assert yaml.safe_load((run / "config.yaml").read_text())["env"]["action_space"] == "model_metadata.json"

    # The run is self-contained: moved away from the source file and evaluated from another folder.
    source.unlink()
    moved = tmp_path / "elsewhere" / "run"
    shutil.move(str(run), moved)
    monkeypatch.chdir(tmp_path / "elsewhere")
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(app, ["eval", "--model", str(moved), "--track", "kidney", "--max-steps", "100",
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["tracks"][0]["track"] == "kidney"
    assert math.isfinite(report["tracks"][0]["mean_progress_pct"])

    # Another action space than the model's is refused, naming both.
    other = write(tmp_path, "other.json", {"action_space": [{"steering_angle": 0, "speed": 1}] * 2})
    result = CliRunner().invoke(app, ["eval", "--model", str(moved), "--track", "kidney", "--max-steps", "10",
                                      "--set", f"env.action_space={other}"])
    assert result.exit_code != 0 and "acts in" in result.output and "other.json" in result.output
