"""DeepRacer action spaces (``model_metadata.json``) and the wrapper that drives the car by them.

A DeepRacer agent chooses a steering angle (degrees, positive = left, -30..30) and a speed (m/s, up to 4)
every agent step, from a discrete list of actions or from continuous ranges. :func:`load_action_space`
reads DeepRacer's ``model_metadata.json``::

    {"action_space": [{"steering_angle": -30, "speed": 0.6, "index": 0}, ...],     # discrete
     "action_space_type": "discrete", "sensor": [...], "neural_network": "...", "version": "5"}
    {"action_space": {"steering_angle": {"low": -30, "high": 30},                  # continuous
                      "speed": {"low": 0.5, "high": 4}},
     "action_space_type": "continuous", ...}

Any other top-level key is accepted and ignored (DeepRacer adds keys between versions); inside an
action or a range only DeepRacer's keys are accepted. Every problem is an :class:`ActionSpaceError`
naming the file and the problem in one line.

:class:`DeepRacerActions` wraps a :class:`~racingline.sim.env.DeepRacerEnv` built with ``continuous=True``:

- **Agent actions.** Discrete: ``Discrete(n)``, action ``i`` is the file's action ``i`` (in ``index``
  order when the file gives indices). Continuous: ``Box(-1, 1, (2,))``, normalised as PPO prefers;
  ``a = [a_steer, a_speed]`` maps linearly onto the file's ranges, ``steering = low + (a_steer + 1) / 2 *
  (high - low)`` and the same for speed (values outside [-1, 1] are clipped first).
- **Steering** (:func:`wheel_angle_rad`). DeepRacer's steering angle is the front wheels' angle of its
  car (0.165 m wheelbase); CarRacing's steering command is the front wheels' target joint angle (rad,
  the joint stops at 0.4 rad) of a car with a 0.13 m wheelbase (in the track's metres). The angle is mapped
  so the kinematic (bicycle-model) turn is the same: ``delta = atan(L_sim / L_deepracer * tan(angle))``,
  clipped to 0.4 rad. That is nearly linear (15 deg -> 0.206 rad, 30 deg -> 0.426 -> 0.4 rad), the
  joint limit is reached at 28.3 deg, and it agrees with ``racingline line export``, which computes a
  line's steering angles with the same bicycle model and DeepRacer's wheelbase. The env negates its
  action's steer component (positive steer turns right, as in CarRacing), so the action sent is ``-delta``.
- **Speed** (:class:`SpeedSteerController`). A proportional controller on the car's forward speed (m/s in
  the track's metres, measured along the hull's heading): ``a = speed_gain * (target - speed)`` m/s^2;
  gas ``= min(1, gas_gain * a)`` when ``a >= 0``, with traction control that cuts the gas while the rear
  wheels spin faster than the car by more than ``slip_max_mps * sqrt(1 - u^2) + slip_min_mps`` (``u``: the
  fraction of the lateral grip in use); otherwise brake ``= min(max_brake, -a / 12.3)`` (CarRacing's brake
  takes ~12.3 m/s^2 per unit while the wheels roll; above ~0.7 they lock). The same gains and rules as
  :class:`racingline.lines.drive.LineFollower`'s speed control. The controls are computed once per agent
  step from the published :class:`~racingline.sim.state.CarState` and held for the env's ``frame_skip``
  physics steps.

``info`` of every step gains ``action_steering_deg`` and ``action_speed_mps`` (the DeepRacer action
taken) and, for a discrete space, ``action_index``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import InvalidAction

from racingline.choices import ACTION_SPACE_TYPES
from racingline.errors import RacinglineError
from racingline.io import atomic_write_text
from racingline.lines.drive import BRAKE_DECEL_PER_UNIT, DEFAULT_LAT_ACCEL_MPS2, MAX_STEER_RAD, WHEEL_RADIUS_M, WHEELBASE_M
from racingline.lines.export import DEEPRACER_WHEELBASE_M, MAX_SPEED_MPS, MAX_STEERING_DEG
from racingline.sim.env import DeepRacerEnv

__all__ = [
    "ActionSpaceError",
    "ActionSpace",
    "load_action_space",
    "parse_action_space",
    "model_metadata",
    "write_model_metadata",
    "wheel_angle_rad",
    "SpeedSteerController",
    "DeepRacerActions",
    "MAX_ACTIONS",
    "MAX_FILE_BYTES",
    "MODEL_METADATA_VERSION",
]

#: The most discrete actions a file may list (DeepRacer's console offers far fewer).
MAX_ACTIONS = 256
#: A model_metadata.json larger than this is refused before it is read.
MAX_FILE_BYTES = 1 << 20
#: The ``version`` written into run folders' model_metadata.json (DeepRacer's current metadata version).
MODEL_METADATA_VERSION = "5"
_ACTION_KEYS = ("steering_angle", "speed", "index")
_RANGE_KEYS = ("low", "high")


class ActionSpaceError(RacinglineError, ValueError):
    """A ``model_metadata.json`` that cannot be used as an action space (the message names the file)."""


@dataclass(frozen=True)
class ActionSpace:
    """A DeepRacer action space.

    Attributes:
        type: ``"discrete"`` or ``"continuous"`` (:data:`racingline.choices.ACTION_SPACE_TYPES`).
        actions: discrete: ``((steering_angle_deg, speed_mps), ...)`` in action-index order; else empty.
        steering_range, speed_range: continuous: ``(low, high)`` (degrees; m/s); discrete: the actions' extent.
        source: where it was read from (for messages).
    """

    type: str
    actions: tuple[tuple[float, float], ...] = ()
    steering_range: tuple[float, float] = (-MAX_STEERING_DEG, MAX_STEERING_DEG)
    speed_range: tuple[float, float] = (0.5, MAX_SPEED_MPS)
    source: str = field(default="", compare=False)

    @property
    def discrete(self) -> bool:
        """Whether the agent picks one of :attr:`actions`."""
        return self.type == "discrete"

    @property
    def n(self) -> int:
        """Number of discrete actions (0 for a continuous space)."""
        return len(self.actions)

    def gym_space(self) -> spaces.Space:
        """The agent's action space: ``Discrete(n)``, or ``Box(-1, 1, (2,))`` (steering, speed; normalised)."""
        if self.discrete:
            return spaces.Discrete(self.n)
        return spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    def target(self, action: Any) -> tuple[float, float, int | None]:
        """``(steering_angle_deg, speed_mps, index or None)`` of an agent action.

        Raises:
            gymnasium.error.InvalidAction: not an action of this space (a NaN, a wrong shape, an index out of range).
        """
        if self.discrete:
            a = np.asarray(action)
            if a.size != 1 or not np.issubdtype(a.dtype, np.integer) or not 0 <= int(a.reshape(())) < self.n:
                raise InvalidAction(f"you passed the invalid action `{action}`; the action space is Discrete({self.n})")
            i = int(a.reshape(()))
            angle, speed = self.actions[i]
            return angle, speed, i
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (2,) or not np.all(np.isfinite(a)):
            raise InvalidAction(f"you passed the invalid action `{action}`; expected 2 finite numbers in [-1, 1] "
                                "(steering, speed)")
        u = np.clip(a, -1.0, 1.0)
        (s_lo, s_hi), (v_lo, v_hi) = self.steering_range, self.speed_range
        return s_lo + (u[0] + 1.0) * 0.5 * (s_hi - s_lo), v_lo + (u[1] + 1.0) * 0.5 * (v_hi - v_lo), None

    def to_json(self) -> list[dict[str, Any]] | dict[str, dict[str, float]]:
        """The ``action_space`` value of a ``model_metadata.json`` (DeepRacer's layout; discrete with ``index``)."""
        if self.discrete:
            return [{"steering_angle": a, "speed": v, "index": i} for i, (a, v) in enumerate(self.actions)]
        return {"steering_angle": {"high": self.steering_range[1], "low": self.steering_range[0]},
                "speed": {"high": self.speed_range[1], "low": self.speed_range[0]}}


# ---------------------------------------------------------------------------------------------- parsing
def _number(value: Any, what: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ActionSpaceError(f"{source}: {what} must be a number, got {json.dumps(value)}")
    if not math.isfinite(value):
        raise ActionSpaceError(f"{source}: {what} must be a finite number, got {value}")
    return float(value)


def _angle(value: Any, what: str, source: str) -> float:
    angle = _number(value, what, source)
    if abs(angle) > MAX_STEERING_DEG:
        raise ActionSpaceError(f"{source}: {what} {angle:g} is beyond DeepRacer's steering range "
                               f"-{MAX_STEERING_DEG:g}..{MAX_STEERING_DEG:g} degrees")
    return angle + 0.0


def _speed(value: Any, what: str, source: str) -> float:
    speed = _number(value, what, source)
    if not 0.0 < speed <= MAX_SPEED_MPS:
        raise ActionSpaceError(f"{source}: {what} {speed:g} m/s is outside DeepRacer's speeds: above 0 and at most "
                               f"{MAX_SPEED_MPS:g} m/s")
    return speed


def _unknown(keys: Sequence[str], allowed: Sequence[str], where: str, source: str) -> None:
    extra = [k for k in keys if k not in allowed]
    if extra:
        raise ActionSpaceError(f"{source}: unknown key {extra[0]!r} in {where}; allowed: {', '.join(allowed)}")


def _discrete(actions: list, source: str) -> ActionSpace:
    if not actions:
        raise ActionSpaceError(f"{source}: 'action_space' is an empty list; give at least one action")
    if len(actions) > MAX_ACTIONS:
        raise ActionSpaceError(f"{source}: 'action_space' lists {len(actions)} actions; at most {MAX_ACTIONS}")
    pairs: list[tuple[float, float]] = []
    indices: list[int | None] = []
    for k, item in enumerate(actions):
        where = f"action {k}"
        if not isinstance(item, dict):
            raise ActionSpaceError(f"{source}: {where} must be an object with steering_angle and speed, "
                                   f"got {json.dumps(item)}")
        _unknown(list(item), _ACTION_KEYS, where, source)
        for key in ("steering_angle", "speed"):
            if key not in item:
                raise ActionSpaceError(f"{source}: {where} has no '{key}'")
        pairs.append((_angle(item["steering_angle"], f"{where}: steering_angle", source),
                      _speed(item["speed"], f"{where}: speed", source)))
        index = item.get("index")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
            raise ActionSpaceError(f"{source}: {where}: index must be an integer, got {json.dumps(index)}")
        indices.append(index)
    given = [i for i in indices if i is not None]
    if given:
        if len(given) != len(indices):
            raise ActionSpaceError(f"{source}: some actions have an 'index' and some do not; give all or none")
        if sorted(given) != list(range(len(given))):
            raise ActionSpaceError(f"{source}: the actions' indices must be 0..{len(given) - 1}, each once; "
                                   f"got {given}")
        pairs = [p for _, p in sorted(zip(given, pairs))]
    angles = [a for a, _ in pairs]
    speeds = [v for _, v in pairs]
    return ActionSpace("discrete", tuple(pairs), (min(angles), max(angles)), (min(speeds), max(speeds)), source)


def _continuous(ranges: dict, source: str) -> ActionSpace:
    _unknown(list(ranges), ("steering_angle", "speed"), "'action_space'", source)
    out = []
    for key, check in (("steering_angle", _angle), ("speed", _speed)):
        if key not in ranges:
            raise ActionSpaceError(f"{source}: continuous 'action_space' has no '{key}' range")
        rng = ranges[key]
        if not isinstance(rng, dict):
            raise ActionSpaceError(f"{source}: action_space.{key} must be an object with low and high, "
                                   f"got {json.dumps(rng)}")
        _unknown(list(rng), _RANGE_KEYS, f"action_space.{key}", source)
        for end in _RANGE_KEYS:
            if end not in rng:
                raise ActionSpaceError(f"{source}: action_space.{key} has no '{end}'")
        low = check(rng["low"], f"action_space.{key}.low", source)
        high = check(rng["high"], f"action_space.{key}.high", source)
        if not low < high:
            raise ActionSpaceError(f"{source}: action_space.{key}: low ({low:g}) must be below high ({high:g})")
        out.append((low, high))
    return ActionSpace("continuous", (), out[0], out[1], source)


def parse_action_space(data: Any, source: str = "model_metadata.json") -> ActionSpace:
    """The action space of a parsed ``model_metadata.json`` (see the module docstring for the layout).

    The space's type is ``action_space_type`` when given (it must agree with the layout), else the layout's:
    a list is discrete, an object continuous.

    Raises:
        ActionSpaceError: a malformed file, one line naming ``source`` and the problem.
    """
    if not isinstance(data, dict):
        raise ActionSpaceError(f"{source}: a model_metadata.json must be a JSON object with an 'action_space', "
                               f"got {type(data).__name__}")
    if "action_space" not in data:
        raise ActionSpaceError(f"{source}: no 'action_space' key (a list of actions or steering/speed ranges)")
    kind = data.get("action_space_type")
    if kind is not None and kind not in ACTION_SPACE_TYPES:
        raise ActionSpaceError(f"{source}: action_space_type must be one of {', '.join(ACTION_SPACE_TYPES)}, "
                               f"got {json.dumps(kind)}")
    value = data["action_space"]
    if isinstance(value, list):
        if kind == "continuous":
            raise ActionSpaceError(f"{source}: action_space_type is continuous but 'action_space' is a list of actions "
                                   "(continuous spaces give steering_angle and speed ranges)")
        return _discrete(value, source)
    if isinstance(value, dict):
        if kind == "discrete":
            raise ActionSpaceError(f"{source}: action_space_type is discrete but 'action_space' is an object "
                                   "(discrete spaces give a list of actions)")
        return _continuous(value, source)
    raise ActionSpaceError(f"{source}: 'action_space' must be a list of actions or an object of ranges, "
                           f"got {json.dumps(value)}")


def load_action_space(path: str | os.PathLike, *, name: str | None = None) -> ActionSpace:
    """Read a DeepRacer ``model_metadata.json`` (:func:`parse_action_space`); ``name`` is how messages call it.

    Raises:
        ActionSpaceError: missing, unreadable, too large, not JSON, or malformed (one line naming the file).
    """
    p = Path(path).expanduser()
    label = name if name is not None else str(path)
    if not p.exists():
        raise ActionSpaceError(f"{label}: no such action-space file (a DeepRacer model_metadata.json)")
    if not p.is_file():
        raise ActionSpaceError(f"{label}: not a file (expected a DeepRacer model_metadata.json)")
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ActionSpaceError(f"{label}: {size} bytes is too large for a model_metadata.json "
                                   f"(at most {MAX_FILE_BYTES})")
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ActionSpaceError(f"{label}: not a text (UTF-8) file") from None
    except OSError as exc:
        raise ActionSpaceError(f"{label}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ActionSpaceError(f"{label}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    return parse_action_space(data, label)


# ---------------------------------------------------------------------------------------------- writing
def model_metadata(space: ActionSpace, *, obs: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``model_metadata.json`` payload describing an agent trained with ``space`` on observation ``obs``.

    ``sensor``: ``["FRONT_FACING_CAMERA"]`` for ``pixels`` (racingline's camera is CarRacing's top-down,
    car-centred view, not DeepRacer's front camera), ``["RACINGLINE_FEATURES"]`` for ``features`` (no
    DeepRacer sensor gives it: the physics feature vector of :mod:`racingline.sim.features`). ``racingline``
    holds what DeepRacer's keys cannot say (``extra``, the observation, the steering mapping).
    """
    sensor = ["FRONT_FACING_CAMERA"] if obs == "pixels" else ["RACINGLINE_FEATURES"]
    note = {"obs": obs,
            "sensor_note": "CarRacing's top-down car-centred view, not DeepRacer's front camera" if obs == "pixels"
            else "racingline's physics feature vector (racingline.sim.features); no DeepRacer sensor gives it",
            "steering_map": "wheel angle = atan(0.13/0.165 * tan(steering_angle)), at most 0.4 rad",
            "continuous_actions": "Box(-1, 1, (2,)) mapped linearly onto the steering and speed ranges"}
    note.update(extra or {})
    return {"action_space": space.to_json(), "sensor": sensor, "training_algorithm": "clipped_ppo",
            "action_space_type": space.type, "version": MODEL_METADATA_VERSION, "racingline": note}


def write_model_metadata(space: ActionSpace, path: str | os.PathLike, *, obs: str,
                         extra: dict[str, Any] | None = None) -> Path:
    """Write :func:`model_metadata` to ``path`` atomically; returns the path."""
    return atomic_write_text(path, json.dumps(model_metadata(space, obs=obs, extra=extra), indent=4) + "\n")


# ---------------------------------------------------------------------------------------------- control
def wheel_angle_rad(steering_deg: float) -> float:
    """CarRacing front-wheel angle (rad, positive left) for a DeepRacer steering angle (degrees, positive left).

    The same bicycle-model turn: ``atan(WHEELBASE_M / DEEPRACER_WHEELBASE_M * tan(angle))``, clipped to the
    joint's 0.4 rad.
    """
    delta = math.atan(WHEELBASE_M / DEEPRACER_WHEELBASE_M * math.tan(math.radians(steering_deg)))
    return max(-MAX_STEER_RAD, min(MAX_STEER_RAD, delta))


class SpeedSteerController:
    """Turns a DeepRacer (steering angle, target speed) into DeepRacerEnv's ``[steer, gas, brake]``.

    See the module docstring. Args: ``speed_gain`` (m/s^2 per m/s of speed error), ``gas_gain`` (gas per
    m/s^2), ``max_brake`` (above ~0.7 the wheels lock), ``slip_max_mps``/``slip_min_mps`` (traction control),
    ``lat_accel_mps2`` (the lateral grip traction control assumes).
    """

    def __init__(self, *, speed_gain: float = 5.0, gas_gain: float = 1.0, max_brake: float = 0.7,
                 slip_max_mps: float = 0.4, slip_min_mps: float = 0.05,
                 lat_accel_mps2: float = DEFAULT_LAT_ACCEL_MPS2) -> None:
        self.speed_gain = float(speed_gain)
        self.gas_gain = float(gas_gain)
        self.max_brake = float(max_brake)
        self.slip_max_mps = float(slip_max_mps)
        self.slip_min_mps = float(slip_min_mps)
        self.lat_accel_mps2 = float(lat_accel_mps2)

    def controls(self, state: Any, steering_deg: float, speed_mps: float) -> np.ndarray:
        """``[steer, gas, brake]`` (float32) for ``state`` (a CarState) and the target action."""
        scale = state.sim.scale
        a = state.angle
        vx, vy = state.vx / scale, state.vy / scale
        v = math.hypot(vx, vy)
        vf = -math.sin(a) * vx + math.cos(a) * vy  # forward speed (angle 0 faces +y)
        accel = self.speed_gain * (speed_mps - vf)
        gas = brake = 0.0
        if accel >= 0.0:
            gas = min(1.0, self.gas_gain * accel)
            om = state.wheel_omega
            rear_slip = max(om[2], om[3]) * WHEEL_RADIUS_M - vf
            u = min(1.0, abs(state.yaw_rate) * v / self.lat_accel_mps2)
            if rear_slip > self.slip_max_mps * math.sqrt(1.0 - u * u) + self.slip_min_mps:
                gas = 0.0
        else:
            brake = min(self.max_brake, -accel / BRAKE_DECEL_PER_UNIT)
        return np.array([-wheel_angle_rad(steering_deg), gas, brake], dtype=np.float32)  # the env's +steer is right


class DeepRacerActions(gym.ActionWrapper):
    """A DeepRacer action space on a :class:`DeepRacerEnv` built with ``continuous=True`` (module docstring).

    Args:
        env: the env (or a wrapper of one) whose ``unwrapped`` is a continuous :class:`DeepRacerEnv`.
        space: an :class:`ActionSpace`, or the path of a ``model_metadata.json``.
        controller: the low-level controller (default :class:`SpeedSteerController`).
    """

    def __init__(self, env: gym.Env, space: ActionSpace | str | os.PathLike,
                 controller: SpeedSteerController | None = None) -> None:
        super().__init__(env)
        base = env.unwrapped
        if not isinstance(base, DeepRacerEnv) or not base.continuous:
            raise ValueError("DeepRacerActions wraps a DeepRacerEnv built with continuous=True")
        self.space = space if isinstance(space, ActionSpace) else load_action_space(space)
        self.controller = controller if controller is not None else SpeedSteerController()
        self.action_space = self.space.gym_space()
        self._last: tuple[float, float, int | None] = (0.0, 0.0, None)

    def action(self, action: Any) -> np.ndarray:
        """``[steer, gas, brake]`` for the agent's ``action`` from the car's current state."""
        state = self.env.unwrapped.state
        if state is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        self._last = angle, speed, _ = self.space.target(action)
        return self.controller.controls(state, angle, speed)

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(self.action(action))
        angle, speed, index = self._last
        info["action_steering_deg"] = float(angle)
        info["action_speed_mps"] = float(speed)
        if index is not None:
            info["action_index"] = index
        return obs, reward, terminated, truncated, info
