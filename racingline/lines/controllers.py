"""Scripted drivers for tests, demos and baselines: they read the car state, not observations.

A driver takes a :class:`~racingline.sim.state.CarState`, or an env that publishes one as ``env.state``
(:class:`~racingline.sim.env.DeepRacerEnv` does after every reset and step).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from racingline.sim.state import CarState

__all__ = ["PurePursuit"]


class PurePursuit:
    """Pure-pursuit steering toward a centerline point ahead, with a simple speed governor.

    Args:
        lookahead_m: distance ahead along the centerline to steer at (metres of the track).
        target_speed_mps: speed to hold (metres of the track per second; the car brakes above it).
        offset: aim this fraction of the road half-width to the left of the centerline (negative: right);
            ``offset=-3`` drives the car off the road.
    """

    def __init__(self, lookahead_m: float = 1.0, target_speed_mps: float = 1.5, offset: float = 0.0) -> None:
        self.lookahead_m = lookahead_m
        self.target_speed_mps = target_speed_mps
        self.offset = offset

    def continuous(self, state: CarState | Any) -> np.ndarray:
        """Continuous ``[steer, gas, brake]`` action for ``state`` (or ``env.state``)."""
        steer, speed_err = self._errors(state)
        gas = float(np.clip(0.5 * speed_err, 0.0, 0.6))
        brake = float(np.clip(-0.5 * speed_err, 0.0, 0.8))
        return np.array([steer, gas, brake], dtype=np.float32)

    def discrete(self, state: CarState | Any) -> int:
        """Discrete CarRacing action (0 none, 1 right, 2 left, 3 gas, 4 brake) for ``state`` (or ``env.state``)."""
        steer, speed_err = self._errors(state)
        if speed_err > 0.8 * self.target_speed_mps:
            return 3  # nearly stopped: get moving before steering matters
        if steer > 0.15:
            return 1
        if steer < -0.15:
            return 2
        if speed_err > 0.0:
            return 3
        if speed_err < -0.5:
            return 4
        return 0

    def _errors(self, state: CarState | Any) -> tuple[float, float]:
        if not isinstance(state, CarState):
            state = state.state  # an env that publishes its CarState
        sim = state.sim
        px, py = state.x, state.y
        a = state.angle
        k = int(round(self.lookahead_m * sim.scale / sim.ds))
        i = (state.proj + k) % len(sim.dense_xy)
        tx, ty = sim.dense_tangent[i]
        tx_, ty_ = sim.dense_xy[i] + self.offset * sim.dense_half_width[i] * np.array([-ty, tx])
        dx, dy = tx_ - px, ty_ - py
        fwd = -math.sin(a) * dx + math.cos(a) * dy
        left = -math.cos(a) * dx - math.sin(a) * dy
        alpha = math.atan2(left, fwd)
        steer = float(np.clip(-2.0 * alpha, -1.0, 1.0))  # CarRacing: +1 steers right
        vx, vy = state.vx, state.vy
        speed_mps = math.hypot(vx, vy) / sim.scale
        return steer, self.target_speed_mps - speed_mps
