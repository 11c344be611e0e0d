"""Car limits measured in the simulator: top speed, acceleration, braking and lateral grip against speed.

:class:`CarLimits` is a table, in the track file's metres (sim units / ``TRACK_SCALE``) and seconds, of what
the simulated car (Gymnasium's CarRacing car under :class:`~racingline.sim.env.DeepRacerEnv`) can do:

- ``top_speed_mps``: the highest speed it reaches on a straight at full throttle;
- ``accel_mps2`` against ``accel_speed_mps``: acceleration at full throttle on a straight;
- ``brake_mps2`` against ``brake_speed_mps``: deceleration at full brake on a straight;
- ``lat_accel_mps2`` against ``lat_speed_mps``: the steady-state lateral acceleration ``v**2 / r`` the car
  holds on a circle without sliding out, from circles of several radii driven at a slowly rising speed.

Every number comes from :func:`measure_limits` (scripted manoeuvres in the real env); the table holds no
safety factor (a driver or a speed profile applies its own: ``speed_scale`` of
:func:`racingline.lines.speed.speed_profile`). The shipped table is ``racingline/data/car_limits.json``
(:func:`load_limits` with no path); ``meta`` says how it was measured.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from racingline.errors import RacinglineError
from racingline.io import atomic_write_text
from racingline.resources import DATA_DIR

__all__ = [
    "CarLimits",
    "LimitsError",
    "load_limits",
    "save_limits",
    "measure_limits",
    "straight_run",
    "hold_circle",
    "DEFAULT_LIMITS_PATH",
    "LIMITS_FORMAT",
]

#: The shipped table (package data).
DEFAULT_LIMITS_PATH = DATA_DIR / "car_limits.json"
#: The ``format`` field of a limits file.
LIMITS_FORMAT = "racingline-car-limits-1"


class LimitsError(RacinglineError, ValueError):
    """A car-limits table (file) that cannot be used; the message names the input and the problem."""


def _table(name: str, value: Any, *, allow_zero: bool, label: str) -> np.ndarray:
    try:
        arr = np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError):
        raise LimitsError(f"{label}: {name} must be a list of numbers") from None
    if arr.ndim != 1 or len(arr) < 1:
        raise LimitsError(f"{label}: {name} must be a non-empty list of numbers, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise LimitsError(f"{label}: {name} holds non-finite values (NaN or inf)")
    if (arr < 0).any() or (not allow_zero and (arr <= 0).any()):
        raise LimitsError(f"{label}: {name} must be {'non-negative' if allow_zero else 'positive'}")
    arr.setflags(write=False)
    return arr


def _pair(speeds: str, values: str, v: Any, a: Any, *, allow_zero: bool, label: str) -> tuple[np.ndarray, np.ndarray]:
    sv = _table(speeds, v, allow_zero=True, label=label)
    av = _table(values, a, allow_zero=allow_zero, label=label)
    if len(sv) != len(av):
        raise LimitsError(f"{label}: {speeds} has {len(sv)} values but {values} has {len(av)}")
    if len(sv) > 1 and (np.diff(sv) <= 0).any():
        raise LimitsError(f"{label}: {speeds} must be strictly increasing")
    return sv, av


@dataclass(frozen=True, eq=False)
class CarLimits:
    """What the simulated car can do, measured (metres of the track file, seconds).

    Attributes:
        top_speed_mps: highest speed on a straight at full throttle (m/s).
        accel_speed_mps, accel_mps2: ``(K,)`` speeds (increasing) and the acceleration at full throttle there
            (m/s^2, >= 0); linear in between, the end values held outside, 0 at and above the top speed.
        brake_speed_mps, brake_mps2: ``(B,)`` speeds and the deceleration at full brake (m/s^2, > 0, positive).
        lat_speed_mps, lat_accel_mps2: ``(R,)`` speeds and the steady-state lateral acceleration ``v^2/r``
            held on a circle at that speed (m/s^2, > 0).
        meta: how it was measured (JSON-serialisable).
    """

    top_speed_mps: float
    accel_speed_mps: np.ndarray
    accel_mps2: np.ndarray
    brake_speed_mps: np.ndarray
    brake_mps2: np.ndarray
    lat_speed_mps: np.ndarray
    lat_accel_mps2: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._validate("limits")

    def _validate(self, label: str) -> None:
        try:
            top = float(self.top_speed_mps)
        except (TypeError, ValueError):
            raise LimitsError(f"{label}: top_speed_mps must be a number") from None
        if not math.isfinite(top) or top <= 0:
            raise LimitsError(f"{label}: top_speed_mps must be a positive finite number, got {self.top_speed_mps!r}")
        object.__setattr__(self, "top_speed_mps", top)
        for speeds, values, zero in (("accel_speed_mps", "accel_mps2", True), ("brake_speed_mps", "brake_mps2", False),
                                     ("lat_speed_mps", "lat_accel_mps2", False)):
            sv, av = _pair(speeds, values, getattr(self, speeds), getattr(self, values), allow_zero=zero, label=label)
            object.__setattr__(self, speeds, sv)
            object.__setattr__(self, values, av)
        if not (self.accel_mps2 > 0).any():
            raise LimitsError(f"{label}: accel_mps2 is zero everywhere (the car could never move)")
        if not isinstance(self.meta, dict):
            raise LimitsError(f"{label}: meta must be a dict")

    # ------------------------------------------------------------------ look-ups
    def accel_at(self, v: float | np.ndarray) -> float | np.ndarray:
        """Acceleration at full throttle (m/s^2) at speed ``v`` (m/s); 0 at and above the top speed."""
        a = np.interp(v, self.accel_speed_mps, self.accel_mps2)
        a = np.where(np.asarray(v) >= self.top_speed_mps, 0.0, a)
        return float(a) if np.ndim(a) == 0 else a

    def brake_at(self, v: float | np.ndarray) -> float | np.ndarray:
        """Deceleration at full brake (m/s^2, positive) at speed ``v`` (m/s)."""
        b = np.interp(v, self.brake_speed_mps, self.brake_mps2)
        return float(b) if np.ndim(b) == 0 else b

    def lat_accel_at(self, v: float | np.ndarray) -> float | np.ndarray:
        """Steady-state lateral acceleration (m/s^2) the car holds at speed ``v`` (m/s)."""
        a = np.interp(v, self.lat_speed_mps, self.lat_accel_mps2)
        return float(a) if np.ndim(a) == 0 else a

    def max_speed_for_curvature(self, kappa_1pm: float | np.ndarray) -> float | np.ndarray:
        """Highest steady speed (m/s) on a path of curvature ``kappa_1pm`` (1/m, sign ignored): the largest
        ``v <= top_speed_mps`` with ``v**2 * |kappa| <= lat_accel_at(v)``. Vectorised over ``kappa_1pm``."""
        k = np.abs(np.asarray(kappa_1pm, dtype=np.float64))
        out = _max_speed_for_curvature(k, self.top_speed_mps, self.lat_speed_mps, self.lat_accel_mps2)
        return float(out) if out.ndim == 0 else out

    # ------------------------------------------------------------------ (de)serialising
    def to_dict(self) -> dict[str, Any]:
        """The JSON form written by :func:`save_limits`."""
        return {
            "format": LIMITS_FORMAT,
            "units": {"speed": "m/s", "acceleration": "m/s^2",
                      "length": "metres of the track file (sim units / TRACK_SCALE)"},
            "top_speed_mps": self.top_speed_mps,
            "accel_speed_mps": [float(x) for x in self.accel_speed_mps],
            "accel_mps2": [float(x) for x in self.accel_mps2],
            "brake_speed_mps": [float(x) for x in self.brake_speed_mps],
            "brake_mps2": [float(x) for x in self.brake_mps2],
            "lat_speed_mps": [float(x) for x in self.lat_speed_mps],
            "lat_accel_mps2": [float(x) for x in self.lat_accel_mps2],
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: Any, *, label: str = "limits") -> CarLimits:
        """Build (and validate) limits from :meth:`to_dict`'s form; a :class:`LimitsError` names ``label``."""
        if not isinstance(data, dict):
            raise LimitsError(f"{label}: not a car-limits file (expected a JSON object)")
        if data.get("format") != LIMITS_FORMAT:
            raise LimitsError(f"{label}: not a car-limits file (format {data.get('format')!r}, expected {LIMITS_FORMAT!r})")
        keys = ("top_speed_mps", "accel_speed_mps", "accel_mps2", "brake_speed_mps", "brake_mps2", "lat_speed_mps",
                "lat_accel_mps2")
        missing = [k for k in keys if k not in data]
        if missing:
            raise LimitsError(f"{label}: missing {', '.join(missing)}")
        meta = data.get("meta", {})
        try:
            return cls(*(data[k] for k in keys), meta=meta if isinstance(meta, dict) else {})
        except LimitsError as exc:
            raise LimitsError(f"{label}: {str(exc).removeprefix('limits: ')}") from None


def _max_speed_for_curvature(k: np.ndarray, top: float, lat_v: np.ndarray, lat_a: np.ndarray) -> np.ndarray:
    """Largest ``v <= top`` with ``v**2 * k <= interp(v, lat_v, lat_a)``, for each ``k >= 0``.

    ``g(v) = interp(v) - k v^2`` is piecewise quadratic; the answer is the first root of ``g`` from 0 (the
    car can reach speed ``v`` on the circle only if it held every lower speed). Found per table interval in
    closed form: on ``[v_j, v_{j+1}]`` the lateral grip is ``a_j + s_j (v - v_j)``.
    """
    # Breakpoints: 0, the table speeds below top, top; grip held constant outside the table.
    knots = np.unique(np.concatenate([[0.0], lat_v[lat_v < top], [top]]))
    grip = np.interp(knots, lat_v, lat_a)
    out = np.full(k.shape, top, dtype=np.float64)
    done = k <= 0
    for j in range(len(knots) - 1):
        v0, v1 = knots[j], knots[j + 1]
        a0, a1 = grip[j], grip[j + 1]
        s = (a1 - a0) / (v1 - v0)
        # k v^2 - s v - (a0 - s v0) = 0, the positive root.
        c = a0 - s * v0
        with np.errstate(divide="ignore", invalid="ignore"):
            disc = s * s + 4.0 * k * c
            root = np.where(k > 0, (s + np.sqrt(np.maximum(disc, 0.0))) / (2.0 * np.maximum(k, 1e-300)), np.inf)
        hit = ~done & (k * v1 * v1 > a1) & (disc >= 0)
        # g(v0) >= 0 by construction (else an earlier interval hit); the root lies in [v0, v1].
        out = np.where(hit, np.clip(root, v0, v1), out)
        done |= hit
    return out


# ---------------------------------------------------------------------------------------------- files
def save_limits(limits: CarLimits, path: str | os.PathLike) -> Path:
    """Write ``limits`` as JSON (atomically); returns the path."""
    path = Path(path)
    atomic_write_text(path, json.dumps(limits.to_dict(), indent=1) + "\n")
    return path


def load_limits(path: str | os.PathLike | None = None) -> CarLimits:
    """Read and validate a limits file (default: the shipped ``racingline/data/car_limits.json``).

    Raises :class:`LimitsError` naming the file when it is missing, not JSON, or holds a bad table
    (NaN, negative or non-increasing speeds, lists of different lengths, a missing key).
    """
    path = DEFAULT_LIMITS_PATH if path is None else Path(path)
    label = str(path)
    if not path.is_file():
        raise LimitsError(f"{label}: no such car-limits file")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text, parse_constant=_reject_constant)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise LimitsError(f"{label}: not a car-limits JSON file ({type(exc).__name__}: {exc})") from None
    return CarLimits.from_dict(data, label=label)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


# ---------------------------------------------------------------------------------------------- measuring
# The manoeuvres drive the real DeepRacerEnv (continuous actions, frame_skip=1, the car never leaves the
# road) on synthetic tracks: a long stadium (straights for acceleration and braking, and small circles driven
# on its wide straight) and rings (circles of larger radius). Positions are read from ``CarState`` in the
# track file's metres; the steering controller below only holds the car on a reference straight or circle.

#: Road width of the measurement tracks (the widest a track may be): the simulated road is half of it.
_WIDTH_M = 3.0
#: Stadium: straight length and end radius (length 2 x 55 + 2 pi x 5 = 141 m, 68 m across: within the limits
#: of racingline.tracks.files); the car reaches top speed within 10 m and stops from it within 1 m.
_STADIUM_STRAIGHT_M = 55.0
_STADIUM_RADIUS_M = 5.0
#: Circles driven to find the lateral grip: (radius, where). Radii up to 0.6 m are driven on the stadium's
#: straight (road half-width 0.75 m); larger ones concentric with a ring track whose road covers them
#: (``ring:R`` = centerline radius R; road R +- 0.7 m with the ring width below).
_CIRCLES = ((0.35, "straight"), (0.45, "straight"), (0.6, "straight"), (0.9, "ring:1.45"), (1.3, "ring:1.45"),
            (1.8, "ring:2.0"), (2.3, "ring:2.0"))
_RING_WIDTH_M = 2.8
#: Full throttle for this long (top speed is reached after about 2.5 s), then full brake until stopped.
_THROTTLE_S = 5.0
_BRAKE_S = 5.0
#: Speeds at which the acceleration and braking tables are given (m/s; cut at the measured top speed).
_TABLE_STEP_MPS = 0.25
#: Circle runs: the target lateral acceleration starts here and rises this fast; the car "holds" the circle
#: while its centre stays within _HOLD_TOL_M of the radius, its heading within _HOLD_PSI_RAD of the tangent
#: and all four wheels are on the road; the held value is the highest mean of v^2/r over _HOLD_WINDOW_S.
_LAT_START_MPS2 = 0.8
_LAT_RAMP_MPS2_PER_S = 0.2
_LAT_MAX_S = 60.0
#: Second, slower run of each circle the car slid out of: from this fraction of the first run's grip, rising
#: this fast, for at most this long (the held value is the higher of the two runs).
_FINE_START_FRACTION = 0.9
_FINE_RAMP_MPS2_PER_S = 0.01
_FINE_MAX_S = 150.0
_SETTLE_S = 3.0
_HOLD_TOL_M = 0.05
_HOLD_PSI_RAD = 0.5
_HOLD_WINDOW_S = 0.5
#: Steering controller (radians of front-wheel angle per metre of lateral error and per radian of heading
#: error) and the speed controller's gain (throttle per m/s of speed error).
_K_E = 4.0
_K_PSI = 1.5
_K_V = 2.0
#: The speed controller's target never rises faster than this (m/s^2): no full-throttle wheelspin on a circle.
_SPEED_RAMP_MPS2 = 1.0


def _stadium_array(straight_m: float = _STADIUM_STRAIGHT_M, radius_m: float = _STADIUM_RADIUS_M,
                   width_m: float = _WIDTH_M, spacing_m: float = 0.25) -> np.ndarray:
    """A stadium track ``(N, 6)`` (metres), counter-clockwise, waypoint 0 at the start of the lower straight
    (``(0, -radius)``, heading +x)."""
    n = int(round(straight_m / spacing_m))
    m = int(round(math.pi * radius_m / spacing_m))
    xs = np.arange(n) * (straight_m / n)
    a = -0.5 * math.pi + math.pi * np.arange(m) / m
    lower = np.stack([xs, np.full(n, -radius_m)], axis=1)
    right = np.stack([straight_m + radius_m * np.cos(a), radius_m * np.sin(a)], axis=1)
    upper = np.stack([straight_m - xs, np.full(n, radius_m)], axis=1)
    left = np.stack([radius_m * np.cos(a + math.pi), radius_m * np.sin(a + math.pi)], axis=1)
    return _with_borders(np.concatenate([lower, right, upper, left]), width_m)


def _ring_array(radius_m: float, width_m: float = _RING_WIDTH_M, spacing_m: float = 0.1) -> np.ndarray:
    """A circular track ``(N, 6)`` of centerline radius ``radius_m`` about the origin, counter-clockwise,
    waypoint 0 at ``(radius, 0)``."""
    m = max(int(round(2 * math.pi * radius_m / spacing_m)), 40)
    a = 2 * math.pi * np.arange(m) / m
    return _with_borders(radius_m * np.stack([np.cos(a), np.sin(a)], axis=1), width_m)


def _with_borders(center: np.ndarray, width_m: float) -> np.ndarray:
    t = np.roll(center, -1, axis=0) - np.roll(center, 1, axis=0)
    t /= np.hypot(t[:, 0], t[:, 1])[:, None]
    left = np.stack([-t[:, 1], t[:, 0]], axis=1)
    return np.concatenate([center, center + 0.5 * width_m * left, center - 0.5 * width_m * left], axis=1)


@dataclass(frozen=True)
class _RefPath:
    """A reference for the steering controller, in metres: a straight line through ``point`` along the unit
    vector ``direction`` (``radius`` 0), or a counter-clockwise circle about ``point`` of ``radius``."""

    point: tuple[float, float]
    direction: tuple[float, float] = (1.0, 0.0)
    radius: float = 0.0

    def errors(self, x: float, y: float, heading: float) -> tuple[float, float, float]:
        """``(lateral offset to the left of the path (m), heading error (rad, positive = pointing left of it),
        path curvature (1/m))`` for a car at ``(x, y)`` heading ``heading`` (rad, atan2 convention)."""
        px, py = self.point
        if self.radius <= 0:
            dx, dy = self.direction
            e_left = dx * (y - py) - dy * (x - px)
            ref = math.atan2(dy, dx)
            kappa = 0.0
        else:
            rx, ry = x - px, y - py
            e_left = self.radius - math.hypot(rx, ry)
            ref = math.atan2(ry, rx) + 0.5 * math.pi
            kappa = 1.0 / self.radius
        psi = (heading - ref + math.pi) % (2 * math.pi) - math.pi
        return e_left, psi, kappa


def _wheelbase_m() -> float:
    from gymnasium.envs.box2d.car_dynamics import SIZE, WHEELPOS

    from racingline.sim.env import TRACK_SCALE

    ys = [wy for _, wy in WHEELPOS]
    return (max(ys) - min(ys)) * SIZE / TRACK_SCALE


def _rear_wheel_speed_mps(state: Any) -> float:
    """Mean surface speed of the rear (driven) wheels, ``omega * radius`` (m/s)."""
    from gymnasium.envs.box2d.car_dynamics import SIZE, WHEEL_R

    return 0.5 * (state.wheel_omega[2] + state.wheel_omega[3]) * WHEEL_R * SIZE / state.sim.scale


class _Rig:
    """A DeepRacerEnv on one synthetic track, driven by a steering controller on a reference path."""

    def __init__(self, array: np.ndarray, name: str) -> None:
        from racingline.sim.env import FPS, DeepRacerEnv
        from racingline.tracks.files import track_from_array

        self.track = track_from_array(array, name=name)
        self.env = DeepRacerEnv(self.track, obs="features", continuous=True, frame_skip=1, reward="progress",
                                terminate_on_off_track=False, max_episode_steps=10**9)
        self.dt = 1.0 / FPS
        self.wheelbase = _wheelbase_m()

    def reset(self, start_waypoint: int = 0) -> Any:
        self.env.reset(seed=0, options={"start_waypoint": start_waypoint})
        return self.env.state

    def step(self, path: _RefPath, gas: float, brake: float) -> tuple[Any, float, float]:
        """One physics frame steering onto ``path``; returns ``(state, lateral error, heading error)``."""
        s = self.env.state
        x, y = s.position_m
        e_left, psi, kappa = path.errors(x, y, s.angle + 0.5 * math.pi)
        # Front-wheel angle (+ = left): the path's own curvature, turn back toward it, and align with it.
        delta = math.atan(self.wheelbase * kappa) - math.atan(_K_E * e_left) - _K_PSI * psi
        self.env.step(np.array([-delta, gas, brake], dtype=np.float64))  # the env's +1 steers right
        return self.env.state, e_left, psi

    def close(self) -> None:
        self.env.close()


def straight_run(*, throttle_s: float = _THROTTLE_S, brake_s: float = _BRAKE_S) -> dict[str, np.ndarray]:
    """Full throttle from standstill on the stadium's straight for ``throttle_s``, then full brake (at most
    ``brake_s``, until stopped), steering to hold the straight.

    Returns per physics frame (and the state at the reset first): ``t`` (s), ``v`` (m/s), ``wheel_v`` (rear
    wheels' surface speed, m/s), ``braking`` (bool), ``on_road`` (wheels on the road, 0-4), ``e`` (lateral
    error, m).
    """
    rig = _Rig(_stadium_array(), "limits_stadium")
    try:
        s = rig.reset(0)
        x0, y0 = s.position_m
        path = _RefPath((x0, y0), (1.0, 0.0))
        rows = [(s.time_s, s.speed_mps, _rear_wheel_speed_mps(s), False, s.wheels_on_road, 0.0)]
        n_gas = int(round(throttle_s / rig.dt))
        n_max = n_gas + int(round(brake_s / rig.dt))
        for k in range(n_max):
            braking = k >= n_gas
            s, e, _ = rig.step(path, 0.0 if braking else 1.0, 1.0 if braking else 0.0)
            rows.append((s.time_s, s.speed_mps, _rear_wheel_speed_mps(s), braking, s.wheels_on_road, e))
            if braking and s.speed_mps < 1e-3:
                break
    finally:
        rig.close()
    arr = np.array(rows, dtype=np.float64)
    return {"t": arr[:, 0], "v": arr[:, 1], "wheel_v": arr[:, 2], "braking": arr[:, 3] > 0.5,
            "on_road": arr[:, 4].astype(int), "e": arr[:, 5]}


def _circle_rig(radius_m: float, where: str) -> tuple[_Rig, int, _RefPath | None, _RefPath]:
    """The rig, start waypoint, approach path (or None) and circle of a circle run. On the straight the car
    first lines up on a line ``radius_m`` right of the centerline, so that the circle is centred on the road;
    the circle's centre is then placed where the car is (see :func:`hold_circle`)."""
    if where == "straight":
        rig = _Rig(_stadium_array(), "limits_stadium")
        start = int(round(0.2 * _STADIUM_STRAIGHT_M / 0.25))  # a fifth of the way along the lower straight
        x0, y0 = (float(c) for c in rig.track.center[start])
        return rig, start, _RefPath((x0, y0 - radius_m), (1.0, 0.0)), _RefPath((x0, y0), radius=radius_m)
    ring = float(where.split(":", 1)[1])
    rig = _Rig(_ring_array(ring), f"limits_ring_{ring:g}")
    return rig, 0, None, _RefPath((0.0, 0.0), radius=radius_m)


def hold_circle(radius_m: float, where: str = "straight", *, lat_start_mps2: float = _LAT_START_MPS2,
                ramp_mps2_per_s: float = _LAT_RAMP_MPS2_PER_S, max_s: float = _LAT_MAX_S) -> dict[str, Any]:
    """Drive a left-hand circle of ``radius_m`` at a slowly rising speed until the car can no longer hold it.

    The target speed is ``sqrt(a(t) * r)`` with ``a(t) = lat_start_mps2 + ramp_mps2_per_s * t`` (after a
    settling period at the start value). ``where``: ``"straight"`` (a circle centred on the stadium's
    straight, entered from a line ``radius_m`` right of the centerline) or ``"ring:R"`` (concentric with a ring
    track of centerline radius R). The car holds the circle while its distance from the centre is within
    :data:`_HOLD_TOL_M` of ``radius_m``, its heading within :data:`_HOLD_PSI_RAD` of the tangent and its
    four wheels are on the road.

    Returns ``{"radius_m", "lat_accel_mps2", "speed_mps", "failed_at_s", "reason", "t", "v", "a", "e"}``:
    the highest mean of ``v**2 / rho`` (``rho``: the car's distance from the centre) over a
    :data:`_HOLD_WINDOW_S` window while it held, and the mean speed over that window; per-frame traces
    (from the moment the car is on the circle).
    """
    rig, start, approach, circle = _circle_rig(radius_m, where)
    try:
        s = rig.reset(start)
        v_cap = 0.0
        dt = rig.dt
        # Approach: line up on the entry line, then put the circle's centre radius_m to the car's left.
        if approach is not None:
            x0 = s.position_m[0]
            v_target = math.sqrt(lat_start_mps2 * radius_m)
            for _ in range(int(round(20.0 / dt))):
                v_cap = min(v_cap + _SPEED_RAMP_MPS2 * dt, v_target)
                s, e_left, psi = rig.step(approach, *_throttle(v_cap - s.speed_mps))
                if s.position_m[0] - x0 > 3.0 and abs(e_left) < 0.005 and abs(psi) < 0.01:
                    break
            x, y = s.position_m
            circle = _RefPath((x, y + radius_m), radius=radius_m)
        t_rows, v_rows, a_rows, e_rows = [], [], [], []
        settled_at = None
        reason = "time limit"
        failed_at = None
        cx, cy = circle.point
        for k in range(int(round(max_s / dt))):
            t = k * dt
            ramp_t = 0.0 if settled_at is None else t - settled_at
            v_target = math.sqrt((lat_start_mps2 + ramp_mps2_per_s * ramp_t) * radius_m)
            v_cap = min(v_cap + _SPEED_RAMP_MPS2 * dt, v_target)
            s, e_left, psi = rig.step(circle, *_throttle(v_cap - s.speed_mps))
            x, y = s.position_m
            rho = math.hypot(x - cx, y - cy)
            v = s.speed_mps
            t_rows.append(t)
            v_rows.append(v)
            a_rows.append(v * v / max(rho, 1e-9))
            e_rows.append(e_left)
            ok = abs(e_left) <= _HOLD_TOL_M and abs(psi) <= _HOLD_PSI_RAD and s.wheels_on_road == 4
            if settled_at is None:
                if ok and t >= _SETTLE_S:
                    settled_at = t
                continue
            if not ok:
                failed_at = k
                reason = ("slid out" if e_left < -_HOLD_TOL_M else "cut inside" if e_left > _HOLD_TOL_M
                          else "spun" if abs(psi) > _HOLD_PSI_RAD else "left the road")
                break
    finally:
        rig.close()
    a = np.array(a_rows)
    v = np.array(v_rows)
    w = max(int(round(_HOLD_WINDOW_S / dt)), 1)
    first = len(a) if settled_at is None else int(round(settled_at / dt))
    end = len(a) if failed_at is None else failed_at
    best_a, best_v = float("nan"), float("nan")
    if end - first >= w:
        csa = np.concatenate([[0.0], np.cumsum(a[first:end])])
        csv = np.concatenate([[0.0], np.cumsum(v[first:end])])
        means = (csa[w:] - csa[:-w]) / w
        j = int(np.argmax(means))
        best_a = float(means[j])
        best_v = float((csv[j + w] - csv[j]) / w)
    if settled_at is None:
        reason = "never settled on the circle"
    return {"radius_m": float(radius_m), "lat_accel_mps2": best_a, "speed_mps": best_v,
            "failed_at_s": None if failed_at is None else float(t_rows[failed_at]), "reason": reason,
            "t": np.array(t_rows), "v": v, "a": a, "e": np.array(e_rows)}


def _throttle(speed_error: float) -> tuple[float, float]:
    """``(gas, brake)`` of the speed controller for a speed error (target - actual, m/s)."""
    gas = min(max(_K_V * speed_error, 0.0), 1.0)
    brake = min(max(-_K_V * speed_error - 0.2, 0.0), 0.5)
    return gas, brake


def _levels(top: float) -> np.ndarray:
    """Table speeds: 0, 0.25, ... below ``top - _TABLE_STEP_MPS / 2``."""
    return np.arange(0.0, top - 0.5 * _TABLE_STEP_MPS + 1e-9, _TABLE_STEP_MPS)


def _rate_at(levels: np.ndarray, t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """|dv/dt| at each speed of ``levels`` from a monotonic speed trace (``v`` rising with ``t``): the speed
    change across ``levels +- step/2`` over the time it took (one-sided at the trace's ends)."""
    h = 0.5 * _TABLE_STEP_MPS
    lo = np.clip(levels - h, v[0], v[-1])
    hi = np.clip(levels + h, v[0], v[-1])
    t_lo = np.interp(lo, v, t)
    t_hi = np.interp(hi, v, t)
    return (hi - lo) / np.maximum(t_hi - t_lo, 1e-9)


def _monotonic(t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The samples of a rising trace where the speed strictly rises (for interpolating t(v))."""
    keep = np.concatenate([[True], np.diff(v) > 0])
    keep &= v >= np.maximum.accumulate(v)
    return t[keep], v[keep]


def _tyre_saturation_slip_mps() -> float:
    """Slip speed (m/s) at which a tyre's force reaches its friction limit on the road in Gymnasium's car model:
    ``Car.step`` makes the force ``slip * 205000 * SIZE**2`` (sim units), capped at ``FRICTION_LIMIT``."""
    from gymnasium.envs.box2d.car_dynamics import FRICTION_LIMIT, SIZE

    from racingline.sim.env import TRACK_SCALE

    return FRICTION_LIMIT / (205000 * SIZE * SIZE) / TRACK_SCALE


def measure_limits(*, on_progress: Callable[[int, int, str], None] | None = None) -> CarLimits:
    """Measure the car's limits in the simulator (about 65,000 physics frames; about 15 s of CPU).

    Manoeuvres (DeepRacerEnv, continuous actions, ``frame_skip=1``, the car always on the road):

    1. on a 55 m straight of a 3 m wide stadium track: full throttle from standstill for 5 s (top speed and
       acceleration against speed; the rear wheels' surface speed ``omega * radius`` against the ground speed
       shows the wheelspin), then full brake to a stop (deceleration against speed);
    2. circles of 0.35 to 2.3 m radius (small ones on the stadium's straight, larger ones on ring tracks),
       each at a slowly rising speed until the car slides out or spins, then once more from just below that
       grip, rising very slowly: the highest ``v^2/r`` held (0.5 s mean) and its speed give the lateral grip
       against speed. A circle the car holds at top speed is reported in ``meta`` but is no grip limit.

    ``on_progress(done, total, what)`` is called before each manoeuvre and once at the end.
    """
    from racingline.sim.env import FPS, TRACK_SCALE

    total = 1 + len(_CIRCLES)

    def report(done: int, what: str) -> None:
        if on_progress is not None:
            on_progress(done, total, what)

    report(0, "straight: full throttle, then full brake")
    run = straight_run()
    t, v, wheel_v, braking = run["t"], run["v"], run["wheel_v"], run["braking"]
    gas_t, gas_v, gas_w = t[~braking], v[~braking], wheel_v[~braking]
    plateau = gas_t >= gas_t[-1] - 1.0
    top = float(gas_v[plateau].mean())
    if float(gas_v[plateau].max() - gas_v[plateau].min()) > 0.01 * top:
        raise LimitsError("measure_limits: the car had not settled at its top speed by the end of the straight run")
    at, av = _monotonic(gas_t, gas_v)
    accel_v = _levels(top)
    accel_a = _rate_at(accel_v, at, av)
    # The last frame below top speed (the car then reaches it abruptly: Box2D caps a body's speed) and the
    # acceleration over the frame before it; then 0 at the top speed.
    below = np.flatnonzero(av < top - 1e-3)
    if len(below) >= 2 and av[below[-1]] > accel_v[-1] + 1e-3:
        j = below[-1]
        accel_v = np.append(accel_v, av[j])
        accel_a = np.append(accel_a, (av[j] - av[j - 1]) / (at[j] - at[j - 1]))
    accel_v = np.append(accel_v, top)
    accel_a = np.append(accel_a, 0.0)
    # Wheelspin: rear wheels' surface speed against the ground speed at each table speed.
    wheel_at = np.interp(accel_v, av, np.interp(at, gas_t, gas_w))
    slip = wheel_at - accel_v
    sat = _tyre_saturation_slip_mps()
    # Where the rear tyres slide (slip above saturation) on the way up to top speed, frame by frame.
    rising = gas_t <= float(np.interp(top - 0.01, av, at))
    spinning = np.flatnonzero(rising & (gas_w - gas_v > sat))
    spin_from = float(gas_v[spinning[0]]) if len(spinning) else None
    spin_until = float(gas_v[spinning[-1]]) if len(spinning) else None
    # Braking: the trace falls with time; read it backwards.
    first_brake = int(np.argmax(braking))
    bt, bv = t[first_brake - 1:], v[first_brake - 1:]  # from the last frame at full throttle
    rt, rv = _monotonic(-bt[::-1], bv[::-1])
    brake_v = _levels(top)[1:]
    brake_v = np.append(brake_v, top) if top - brake_v[-1] > 1e-6 else brake_v
    brake_a = _rate_at(brake_v, rt, rv)
    stop_m = float(np.sum(0.5 * (bv[1:] + bv[:-1]) * np.diff(bt)))

    circles = []
    for i, (radius, where) in enumerate(_CIRCLES):
        report(1 + i, f"circle r={radius:g} m ({where})")
        res = hold_circle(radius, where)
        row = {k: res[k] for k in ("radius_m", "lat_accel_mps2", "speed_mps", "failed_at_s", "reason")}
        row["where"] = where
        if res["failed_at_s"] is not None and math.isfinite(res["lat_accel_mps2"]):
            fine = hold_circle(radius, where, lat_start_mps2=_FINE_START_FRACTION * res["lat_accel_mps2"],
                               ramp_mps2_per_s=_FINE_RAMP_MPS2_PER_S, max_s=_FINE_MAX_S)
            row["runs"] = [{k: (round(r[k], 4) if isinstance(r[k], float) else r[k])
                            for k in ("lat_accel_mps2", "speed_mps", "failed_at_s", "reason")} for r in (res, fine)]
            if math.isfinite(fine["lat_accel_mps2"]) and fine["lat_accel_mps2"] > row["lat_accel_mps2"]:
                row.update(lat_accel_mps2=fine["lat_accel_mps2"], speed_mps=fine["speed_mps"])
        circles.append(row)
    report(total, "done")
    limit_rows = sorted((c["speed_mps"], c["lat_accel_mps2"]) for c in circles
                        if c["failed_at_s"] is not None and math.isfinite(c["lat_accel_mps2"]))
    if not limit_rows:
        raise LimitsError("measure_limits: no circle run found the grip limit")
    lat_v, lat_a = [], []
    for sv, la in limit_rows:
        if lat_v and sv - lat_v[-1] < 1e-3:  # the same speed twice: keep the lower grip
            lat_a[-1] = min(lat_a[-1], la)
            continue
        lat_v.append(sv)
        lat_a.append(la)
    rnd = lambda x: [round(float(y), 4) for y in x]  # noqa: E731 - a short local formatter
    meta = {
        "measured_by": "racingline.lines.limits.measure_limits",
        "simulator": "DeepRacerEnv (Gymnasium CarRacing car), continuous actions",
        "frame_skip": 1,
        "physics_dt_s": 1.0 / FPS,
        "units": f"metres of the track file (sim units / {TRACK_SCALE:g}), seconds",
        "manoeuvres": {
            "straight": (f"stadium track ({_STADIUM_STRAIGHT_M:g} m straights, {_STADIUM_RADIUS_M:g} m ends, "
                         f"{_WIDTH_M:g} m wide): full throttle from standstill for {_THROTTLE_S:g} s, then full "
                         "brake (brake=1, wheels locked) to a stop, steering to hold the straight"),
            "circles": (f"left-hand circles, target v^2/r rising from {_LAT_START_MPS2:g} m/s^2 at "
                        f"{_LAT_RAMP_MPS2_PER_S:g} m/s^2 per s, then (a circle the car slid out of) again from "
                        f"{_FINE_START_FRACTION:g} x the grip found at {_FINE_RAMP_MPS2_PER_S:g} m/s^2 per s for at "
                        f"most {_FINE_MAX_S:g} s, the higher result kept; held while within {_HOLD_TOL_M:g} m of the radius, "
                        f"heading within {_HOLD_PSI_RAD:g} rad of the tangent and four wheels on the road; the "
                        f"grip is the highest {_HOLD_WINDOW_S:g} s mean of v^2/rho while held"),
        },
        "top_speed_note": "the speed the car settles at on the straight at full throttle (the last 1 s mean)",
        "wheelspin": {
            "speed_mps": rnd(accel_v),
            "rear_wheel_surface_speed_mps": rnd(wheel_at),
            "slip_mps": rnd(slip),
            "tyre_saturation_slip_mps": round(sat, 4),
            "spin_from_mps": None if spin_from is None else round(spin_from, 4),
            "spin_until_mps": None if spin_until is None else round(spin_until, 4),
            "note": ("at full throttle the rear wheels' surface speed (omega * radius) exceeds the ground speed; "
                     "from spin_from_mps to spin_until_mps the slip exceeds the slip at which the tyre force "
                     "saturates (the rear wheels spin: traction-limited acceleration)"),
        },
        "stopping_distance_from_top_m": round(stop_m, 4),
        "time_to_top_speed_s": round(float(np.interp(top - 0.01, av, at)), 3),
        "circles": [{k: (round(x, 4) if isinstance(x, float) else x) for k, x in c.items()} for c in circles],
        "held_at_top_speed": [c["radius_m"] for c in circles if c["failed_at_s"] is None
                              and abs(c["speed_mps"] - top) < 0.02 * top],
    }
    return CarLimits(top_speed_mps=round(top, 4), accel_speed_mps=rnd(accel_v), accel_mps2=rnd(accel_a),
                     brake_speed_mps=rnd(brake_v), brake_mps2=rnd(brake_a), lat_speed_mps=rnd(lat_v),
                     lat_accel_mps2=rnd(lat_a), meta=meta)


def main() -> None:  # pragma: no cover - ``python -m racingline.lines.limits`` rewrites the shipped table
    """Measure the limits and write the shipped ``racingline/data/car_limits.json``."""
    import time

    t0 = time.process_time()
    limits = measure_limits(on_progress=lambda d, n, w: print(f"[{d}/{n}] {w}", flush=True))
    print(f"measured in {time.process_time() - t0:.1f} s of CPU")
    print(json.dumps(limits.to_dict(), indent=1))
    save_limits(limits, DEFAULT_LIMITS_PATH)
    print(f"wrote {DEFAULT_LIMITS_PATH}")


if __name__ == "__main__":  # pragma: no cover
    main()
