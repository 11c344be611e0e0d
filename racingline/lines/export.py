"""Export a racing line in the formats DeepRacer racers use.

:data:`FORMATS` (the one list of them):

* ``npy``: ``(N+1, 2)`` float64 points in the track file's metres, the first point repeated as the last
  (a closed loop, as the community's race-line files store it: ``np.load`` and ``[:-1]`` gives the points).
* ``py``: a Python module with ``racing_line = [[x, y], ...]`` and ``speeds = [...]`` (m/s), to paste into
  a DeepRacer ``reward_function(params)``: ``params["x"], params["y"]`` are in the same metres.
* ``csv``: ``x,y,speed_mps,time_s,curvature_1pm``, one row per point (the community's optimal-speed table,
  plus the curvature).
* ``model_metadata.json``: a DeepRacer discrete action space suggested by k-means over the
  (steering angle, speed) pairs the line asks for, as the community notebooks do.
* ``continuous.json``: a DeepRacer continuous action space spanning the line's steering and speed ranges.

Every file is written atomically (a temporary file, then a rename). Formats that carry speeds need the
line's speed profile; a line without one is a :class:`~racingline.lines.line.LineError`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from racingline.io import atomic_path, atomic_write_text
from racingline.lines.line import LineError, RacingLine

__all__ = ["FORMATS", "SPEED_FORMATS", "DEFAULT_ACTIONS", "MIN_ACTIONS", "MAX_ACTIONS", "DEEPRACER_WHEELBASE_M",
           "MAX_STEERING_DEG", "MAX_SPEED_MPS", "MIN_SPEED_MPS", "export_line", "steering_angles_deg",
           "discrete_action_space", "continuous_action_space", "python_module_text", "csv_text"]

#: Every export format; a format's name is also the default file suffix.
FORMATS: tuple[str, ...] = ("npy", "py", "csv", "model_metadata.json", "continuous.json")
#: The formats that need the line's speed profile.
SPEED_FORMATS: tuple[str, ...] = FORMATS[1:]

#: Wheelbase of the physical AWS DeepRacer car, metres: the 1/18-scale chassis measures 0.165 m from the front
#: to the rear axle. The community's kinematic models of the car use the same figure (the bicycle model
#: ``yaw_rate = v / L * tan(steering)`` with ``L = 0.165``), and it fits DeepRacer's 30-degree steering lock
#: with the car's ~0.3 m tightest turning radius (0.165 / tan(30 deg) = 0.29 m). Steering angles follow the
#: bicycle model: ``steering = atan(L * curvature)``.
DEEPRACER_WHEELBASE_M = 0.165
#: DeepRacer's steering range is -30..30 degrees (positive turns left, as curvature here).
MAX_STEERING_DEG = 30.0
#: DeepRacer's action speeds go up to 4 m/s; the exported speeds are clipped to (MIN_SPEED_MPS, 4].
MAX_SPEED_MPS = 4.0
MIN_SPEED_MPS = 0.1
#: Discrete actions suggested by default, and the allowed range.
DEFAULT_ACTIONS = 15
MIN_ACTIONS = 2
MAX_ACTIONS = 50
#: The fields DeepRacer reads besides the action space (its deepracer-for-cloud defaults, metadata version 5).
_METADATA = {"sensor": ["FRONT_FACING_CAMERA"], "neural_network": "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW",
             "training_algorithm": "clipped_ppo"}
_METADATA_VERSION = "5"
_KMEANS_SEED = 0


def _speeds(line: RacingLine, fmt: str) -> np.ndarray:
    if line.speed_mps is None:
        raise LineError(f"line for {line.track_name} ({line.method}) has no speed profile; the {fmt} export needs "
                        "speeds (make the line with `racingline line optimize`)")
    return np.asarray(line.speed_mps, dtype=np.float64)


def steering_angles_deg(line: RacingLine) -> np.ndarray:
    """``(N,)`` DeepRacer steering angle (degrees, positive left) that follows the line's curvature at each
    point: ``degrees(atan(DEEPRACER_WHEELBASE_M * curvature))``, clipped to +-MAX_STEERING_DEG."""
    angles = np.degrees(np.arctan(DEEPRACER_WHEELBASE_M * line.curvature_1pm))
    return np.clip(angles, -MAX_STEERING_DEG, MAX_STEERING_DEG)


def _time_weights(line: RacingLine, speed: np.ndarray) -> np.ndarray:
    """Seconds spent around each point (half the segment before and after, at the profile's speed): the
    agent picks an action every step, so an action space should cover where the car spends its time."""
    seg_t = line.seg_m / (0.5 * (speed + np.roll(speed, -1)))
    return 0.5 * (seg_t + np.roll(seg_t, 1))


def _check_actions(actions: int) -> int:
    if isinstance(actions, bool) or not isinstance(actions, (int, np.integer)) or \
            not MIN_ACTIONS <= int(actions) <= MAX_ACTIONS:
        raise LineError(f"actions={actions!r}: give a number of discrete actions from {MIN_ACTIONS} to {MAX_ACTIONS}")
    return int(actions)


def discrete_action_space(line: RacingLine, actions: int = DEFAULT_ACTIONS) -> list[dict[str, float]]:
    """A DeepRacer discrete action space for ``line``: k-means (scikit-learn, fixed seed) over the
    ``(steering_angle, speed)`` pairs along the line, each point weighted by the time spent there.

    Both axes are scaled to their DeepRacer range (steering by 30 degrees, speed by 4 m/s) before clustering,
    so neither dominates. Returns at most ``actions`` actions (fewer when the line asks for fewer distinct
    pairs), sorted by steering angle then speed; steering rounded to 0.1 degree, speed to 0.01 m/s.
    """
    actions = _check_actions(actions)
    speed = np.clip(_speeds(line, "model_metadata.json"), MIN_SPEED_MPS, MAX_SPEED_MPS)
    from sklearn.cluster import KMeans  # after the checks: importing scikit-learn takes a second

    steer = steering_angles_deg(line)
    features = np.stack([steer / MAX_STEERING_DEG, speed / MAX_SPEED_MPS], axis=1)
    distinct = len(np.unique(np.round(features, 6), axis=0))
    k = min(actions, distinct)
    km = KMeans(n_clusters=k, random_state=_KMEANS_SEED, n_init=10)
    km.fit(features, sample_weight=_time_weights(line, speed))
    centres = km.cluster_centers_
    pairs = set()
    for s, v in centres:
        angle = round(float(np.clip(s * MAX_STEERING_DEG, -MAX_STEERING_DEG, MAX_STEERING_DEG)), 1)
        pace = round(float(np.clip(v * MAX_SPEED_MPS, MIN_SPEED_MPS, MAX_SPEED_MPS)), 2)
        pairs.add((angle + 0.0, pace))  # + 0.0: no -0.0 in the file
    return [{"steering_angle": a, "speed": v} for a, v in sorted(pairs)]


def continuous_action_space(line: RacingLine) -> dict[str, dict[str, float]]:
    """DeepRacer continuous action-space ranges covering ``line``: steering from its most-right to its
    most-left angle (whole degrees, outward; within +-30), speed from its slowest to its fastest point
    (0.1 m/s, outward; within (0, 4]). A range that would be empty is widened a little (DeepRacer needs
    low < high)."""
    speed = np.clip(_speeds(line, "continuous.json"), MIN_SPEED_MPS, MAX_SPEED_MPS)
    steer = steering_angles_deg(line)
    s_lo = max(-MAX_STEERING_DEG, float(math.floor(steer.min())))
    s_hi = min(MAX_STEERING_DEG, float(math.ceil(steer.max())))
    if s_hi <= s_lo:
        s_lo, s_hi = max(-MAX_STEERING_DEG, s_lo - 1.0), min(MAX_STEERING_DEG, s_hi + 1.0)
    v_lo = max(MIN_SPEED_MPS, math.floor(float(speed.min()) * 10.0) / 10.0)
    v_hi = min(MAX_SPEED_MPS, math.ceil(float(speed.max()) * 10.0) / 10.0)
    if v_hi <= v_lo:
        v_lo, v_hi = max(MIN_SPEED_MPS, v_lo - 0.1), min(MAX_SPEED_MPS, v_hi + 0.1)
    return {"steering_angle": {"high": s_hi + 0.0, "low": s_lo + 0.0},
            "speed": {"high": round(v_hi, 1), "low": round(v_lo, 1)}}


def _describe(line: RacingLine) -> str:
    direction = "reversed direction" if line.reverse else "the track's own direction"
    return (f"{line.method} racing line for {line.track_name} ({direction}), margin {line.margin_m:.3f} m, "
            f"{len(line.xy)} points, {line.length_m:.2f} m")


def _lap_estimate(line: RacingLine) -> str:
    flying, standing = line.meta.get("lap_time_flying_s"), line.meta.get("lap_time_standing_s")
    parts = [f"{name} {float(value):.2f} s" for name, value in (("flying", flying), ("standing", standing))
             if isinstance(value, (int, float))]
    if not parts and line.time_s is not None:
        v = line.speed_mps
        parts = [f"flying {float(line.time_s[-1] + 2.0 * line.seg_m[-1] / (v[-1] + v[0])):.2f} s"]
    return ", ".join(parts) if parts else "none"


def _lap_comment(line: RacingLine) -> str:
    """The ``py`` export's lap line: the driven lap of an extracted line, else the lap estimate."""
    driven = line.meta.get("lap_time_driven_s")
    if isinstance(driven, (int, float)):
        start = line.meta.get("start_waypoint")
        where = f" from a standing start at waypoint {start}" if isinstance(start, int) else ""
        model = " ".join(str(line.meta.get("model") or "").split())  # one comment line, whatever the path
        by = f" by {model}" if model else ""
        return f"# Lap (simulated): driven lap {float(driven):.2f} s{by}{where}.\n"
    return f"# Lap estimate (simulated car limits): {_lap_estimate(line)}.\n"


def python_module_text(line: RacingLine) -> str:
    """The ``py`` export: a module defining ``racing_line`` (``[[x, y], ...]``, metres) and ``speeds`` (m/s).

    Floats are written with ``repr``, so importing the module gives exactly the line's numbers.
    """
    speed = _speeds(line, "py")
    points = ",\n".join(f"    [{float(x)!r}, {float(y)!r}]" for x, y in line.xy)
    speeds = ",\n".join(f"    {float(v)!r}" for v in speed)
    return (
        f"# {_describe(line)}.\n"
        f"{_lap_comment(line)}"
        "# Written by `racingline line export --format py`. Paste into a DeepRacer reward_function(params):\n"
        "# racing_line[i] is a point in the track's metres (the frame of params['x'], params['y']), in driving\n"
        "# order, the loop closing from the last point to the first; speeds[i] is the target speed there (m/s).\n"
        "# E.g. the nearest point: i = min(range(len(racing_line)),\n"
        "#     key=lambda k: (racing_line[k][0] - params['x']) ** 2 + (racing_line[k][1] - params['y']) ** 2)\n"
        f"racing_line = [\n{points},\n]\n"
        f"speeds = [\n{speeds},\n]\n"
    )


def csv_text(line: RacingLine) -> str:
    """The ``csv`` export: header ``x,y,speed_mps,time_s,curvature_1pm`` and one row per point (exact floats)."""
    speed = _speeds(line, "csv")
    rows = ["x,y,speed_mps,time_s,curvature_1pm"]
    for (x, y), v, t, k in zip(line.xy, speed, line.time_s, line.curvature_1pm):
        rows.append(",".join(repr(float(a)) for a in (x, y, v, t, k)))
    return "\n".join(rows) + "\n"


def _json(payload: dict) -> str:
    return json.dumps(payload, indent=4) + "\n"


def export_line(line: RacingLine, fmt: str, out: str | os.PathLike, *, actions: int = DEFAULT_ACTIONS) -> Path:
    """Write ``line`` to ``out`` in format ``fmt`` (one of :data:`FORMATS`), atomically; returns the path.

    ``actions``: the number of discrete actions of ``model_metadata.json`` (k-means clusters).

    Raises:
        LineError: an unknown format, a bad ``actions``, or a format that needs speeds and a line without them.
        racingline.io.OutputError: ``out`` cannot be written.
    """
    if fmt not in FORMATS:
        raise LineError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    if fmt == "npy":
        loop = np.vstack([line.xy, line.xy[:1]]).astype(np.float64)
        with atomic_path(out, suffix=".npy") as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, loop)
        return out
    if fmt == "py":
        return atomic_write_text(out, python_module_text(line))
    if fmt == "csv":
        return atomic_write_text(out, csv_text(line))
    if fmt == "model_metadata.json":
        payload = {"action_space": discrete_action_space(line, actions), **_METADATA,
                   "action_space_type": "discrete", "version": _METADATA_VERSION}
    else:
        payload = {"action_space": continuous_action_space(line), **_METADATA,
                   "action_space_type": "continuous", "version": _METADATA_VERSION}
    return atomic_write_text(out, _json(payload))
