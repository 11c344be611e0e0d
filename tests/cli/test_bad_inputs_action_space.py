"""Bad action-space files given to ``racingline train --action-space`` (or ``env.action_space``): one error line
naming the file and the problem, exit 1, no run folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import SCRATCH, BadInput, run_bad_input

NO_RUN = ("runs", "runs/*")
TRAIN = ("train", *SCRATCH, "--n-envs", "2", "--timesteps", "512", "--no-progress", "--set", "env.obs=features")


def _file(name: str, payload) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        (folder / name).write_text(text)

    return setup


def _discrete(*actions: dict, **top) -> dict:
    return {"action_space": list(actions), **top}


def _continuous(steer=(-30, 30), speed=(0.5, 4), **top) -> dict:
    return {"action_space": {"steering_angle": {"low": steer[0], "high": steer[1]},
                             "speed": {"low": speed[0], "high": speed[1]}}, "action_space_type": "continuous", **top}


def _case(id: str, payload, expect: tuple[str, ...], name: str = "bad.json") -> BadInput:
    return BadInput(id, (*TRAIN, "--action-space", name), (name, *expect), absent=NO_RUN, setup=_file(name, payload))


A = {"steering_angle": 0, "speed": 1.0}
CASES = [
    _case("invalid-json", '{"action_space": [', ("not valid JSON",)),
    _case("not-an-object", "[1, 2]", ("JSON object",)),
    _case("no-action-space", {"sensor": ["FRONT_FACING_CAMERA"]}, ("no 'action_space'",)),
    _case("empty-list", _discrete(), ("empty list",)),
    _case("unknown-action-key", _discrete({**A, "throttle": 1}), ("unknown key 'throttle'", "action 0")),
    _case("speed-zero", _discrete(A, {"steering_angle": 0, "speed": 0}), ("action 1: speed 0", "above 0")),
    _case("speed-negative", _discrete({"steering_angle": 0, "speed": -1}), ("speed -1",)),
    _case("speed-above-4", _discrete({"steering_angle": 0, "speed": 4.5}), ("speed 4.5", "at most 4")),
    _case("angle-beyond-30", _discrete({"steering_angle": 35, "speed": 1}), ("steering_angle 35", "-30..30")),
    _case("angle-a-string", _discrete({"steering_angle": "left", "speed": 1}), ("steering_angle", "number", "left")),
    _case("speed-a-bool", _discrete({"steering_angle": 0, "speed": True}), ("speed", "number", "true")),
    _case("speed-nan", '{"action_space": [{"steering_angle": 0, "speed": NaN}]}', ("speed", "finite")),
    _case("missing-speed", _discrete({"steering_angle": 0}), ("action 0 has no 'speed'",)),
    _case("action-not-an-object", _discrete(A, 3), ("action 1", "object")),
    _case("index-not-integer", _discrete({**A, "index": "0"}), ("index", "integer")),
    _case("index-gap", _discrete({**A, "index": 0}, {**A, "index": 2}), ("indices", "0..1")),
    _case("some-indices", _discrete({**A, "index": 0}, A), ("some actions have an 'index'",)),
    _case("wrong-type-name", _discrete(A, action_space_type="discreet"), ("action_space_type", "discrete, continuous")),
    _case("type-disagrees", _discrete(A, action_space_type="continuous"), ("continuous", "list of actions")),
    _case("action-space-a-number", {"action_space": 3}, ("'action_space' must be",)),
    _case("continuous-low-above-high", _continuous(speed=(3, 1)), ("action_space.speed", "low (3)", "high (1)")),
    _case("continuous-low-equals-high", _continuous(steer=(10, 10)), ("action_space.steering_angle", "below")),
    _case("continuous-angle-beyond-30", _continuous(steer=(-40, 30)), ("steering_angle.low -40",)),
    _case("continuous-speed-above-4", _continuous(speed=(1, 5)), ("speed.high 5",)),
    _case("continuous-unknown-range-key", {"action_space": {"steering_angle": {"low": -1, "high": 1, "mid": 0},
                                                            "speed": {"low": 1, "high": 2}}}, ("unknown key 'mid'",)),
    _case("continuous-unknown-axis", {"action_space": {"steering_angle": {"low": -1, "high": 1},
                                                       "speed": {"low": 1, "high": 2}, "throttle": {}}},
          ("unknown key 'throttle'",)),
    _case("continuous-missing-speed", {"action_space": {"steering_angle": {"low": -1, "high": 1}}}, ("no 'speed'",)),
    _case("continuous-range-not-object", {"action_space": {"steering_angle": [-1, 1], "speed": {"low": 1, "high": 2}}},
          ("action_space.steering_angle", "low and high")),
    BadInput("missing-file", (*TRAIN, "--action-space", "nope.json"), ("nope.json", "no such action-space file"),
             absent=NO_RUN),
    BadInput("a-folder", (*TRAIN, "--action-space", "."), (".", "not a file"), absent=NO_RUN),
    BadInput("binary-file", (*TRAIN, "--action-space", "bin.json"), ("bin.json", "UTF-8"), absent=NO_RUN,
             setup=lambda f: (f / "bin.json").write_bytes(b"\xff\xfe\x00\x81")),
    BadInput("through-set", (*TRAIN, "--set", "env.action_space=bad.json"), ("bad.json", "speed 9"), absent=NO_RUN,
             setup=_file("bad.json", {"action_space": [{"steering_angle": 0, "speed": 9}]})),
    BadInput("with-resume", ("train", "--resume", "somerun", "--action-space", "x.json"),
             ("--action-space", "keeps its own config"), absent=NO_RUN),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_action_space_is_one_line_naming_the_file(case, tmp_path):
    run_bad_input(case, tmp_path)


def test_config_file_with_a_bad_action_space_names_the_file_beside_it(tmp_path):
    def setup(folder: Path) -> None:
        (folder / "cfg").mkdir()
        (folder / "cfg" / "c.yaml").write_text("env:\n  obs: features\n  action_space: acts.json\n")
        (folder / "cfg" / "acts.json").write_text(json.dumps({"action_space": []}))

    case = BadInput("config-file", ("train", "--config", "cfg/c.yaml", "--n-envs", "2", "--timesteps", "512",
                                    "--no-progress"), ("cfg/acts.json", "empty list"), absent=NO_RUN, setup=setup)
    run_bad_input(case, tmp_path)
