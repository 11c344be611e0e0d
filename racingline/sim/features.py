"""The ``features`` observation: what a driver needs, computed from physics state, no drawing.

Elements (float32, each scaled to roughly [-1, 1] and clipped to the declared bounds):

=====  ==========================  ==============================================================
index  name                        meaning (scale)
=====  ==========================  ==============================================================
0      speed                       car speed, sim units/s / 100 (25 sim units = 1 m)
1      v_forward                   velocity along the car's heading / 100
2      v_lateral                   velocity to the car's left (side slip) / 100
3      yaw_rate                    hull angular velocity, rad/s / 5 (positive = turning left)
4      steering                    front-wheel steering angle / 0.42 rad (positive = left)
5-8    wheel_omega_0..3            wheel angular velocities / 100 (front-left, front-right, rear-left, rear-right)
9      lateral_offset              distance left of the centerline / road half-width (|x| > 1: off the road)
10     heading_error_sin           sin(car heading - centerline heading)
11     heading_error_cos           cos(car heading - centerline heading)
12     wheels_on_road              fraction of the four wheels touching the road
13-36  ahead_{d}m_fwd / _left      centerline point d metres ahead along the track, in the car's frame
                                   (forward, left), / 8 m, for d in LOOKAHEAD_M
=====  ==========================  ==============================================================
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from racingline.sim.geometry import SimTrack
    from racingline.sim.state import CarState

__all__ = ["FEATURE_NAMES", "FEATURE_LOW", "FEATURE_HIGH", "LOOKAHEAD_M", "compute_features", "lookahead_offsets"]

#: Look-ahead distances along the centerline, metres of the track file.
LOOKAHEAD_M = np.array([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.5, 8.0])
_LOOK_NORM_M = 8.0

FEATURE_NAMES: tuple[str, ...] = (
    "speed", "v_forward", "v_lateral", "yaw_rate", "steering",
    "wheel_omega_0", "wheel_omega_1", "wheel_omega_2", "wheel_omega_3",
    "lateral_offset", "heading_error_sin", "heading_error_cos", "wheels_on_road",
) + tuple(f"ahead_{d:g}m_{axis}" for d in LOOKAHEAD_M for axis in ("fwd", "left"))

_N_BASE = 13
FEATURE_LOW = np.full(len(FEATURE_NAMES), -10.0, dtype=np.float32)
FEATURE_HIGH = np.full(len(FEATURE_NAMES), 10.0, dtype=np.float32)
FEATURE_LOW[0] = 0.0
FEATURE_LOW[10:12] = -1.0
FEATURE_HIGH[10:12] = 1.0
FEATURE_LOW[12] = 0.0
FEATURE_HIGH[12] = 1.0


def lookahead_offsets(sim: SimTrack) -> np.ndarray:
    """Dense-centerline index offsets of the :data:`LOOKAHEAD_M` points on ``sim``."""
    return np.round(LOOKAHEAD_M * sim.scale / sim.ds).astype(np.int64)


def compute_features(state: CarState, look_offsets: np.ndarray | None = None) -> np.ndarray:
    """The feature vector of ``state`` (see the module docstring).

    ``look_offsets``: :func:`lookahead_offsets` of ``state.sim`` (computed when not given).
    """
    sim = state.sim
    a = state.angle
    fx, fy = -math.sin(a), math.cos(a)  # car forward
    lx, ly = -fy, fx  # car left
    vx, vy = state.vx, state.vy
    px, py = state.x, state.y
    omega = state.wheel_omega
    idx = state.proj
    cx, cy = sim.dense_xy[idx]
    tx, ty = sim.dense_tangent[idx]
    offset = (-(ty) * (px - cx) + tx * (py - cy)) / max(float(sim.dense_half_width[idx]), 1e-6)
    track_heading = math.atan2(ty, tx)
    car_heading = math.atan2(fy, fx)
    err = car_heading - track_heading
    on_road = state.wheels_on_road * 0.25
    out = np.empty(len(FEATURE_NAMES), dtype=np.float32)
    out[:_N_BASE] = (
        math.hypot(vx, vy) / 100.0,
        (vx * fx + vy * fy) / 100.0,
        (vx * lx + vy * ly) / 100.0,
        state.yaw_rate / 5.0,
        state.steer_angle / 0.42,
        omega[0] / 100.0,
        omega[1] / 100.0,
        omega[2] / 100.0,
        omega[3] / 100.0,
        offset,
        math.sin(err),
        math.cos(err),
        on_road,
    )
    if look_offsets is None:
        look_offsets = lookahead_offsets(sim)
    ii = look_offsets + idx
    ii %= len(sim.dense_xy)
    rx = sim.dense_x.take(ii)
    rx -= px
    ry = sim.dense_y.take(ii)
    ry -= py
    norm = _LOOK_NORM_M * sim.scale
    out[_N_BASE::2] = (rx * fx + ry * fy) / norm
    out[_N_BASE + 1::2] = (rx * lx + ry * ly) / norm
    np.clip(out, FEATURE_LOW, FEATURE_HIGH, out=out)
    return out
