"""The line controller on TORCS: a racing line optimised on a TORCS track, driven by pure pursuit.

racingline's optimisers (:mod:`racingline.lines.optimize`) run on the road between a TORCS track's borders
(:func:`torcs_line`), with the speed profile of :mod:`racingline.lines.speed` under :data:`TORCS_LIMITS`.
:class:`TorcsLineDriver` drives that line in a :class:`~racingline.torcs.env.TorcsEnv` from the published
:class:`~racingline.torcs.state.TorcsState` alone (position, heading, speed): it is ``racingline record
--driver line:mincurv``'s driver on TORCS configs, the demonstrations a TORCS run clones, and DAgger's
expert there. It knows the track; the agent that learns from it sees only the SCR sensors.

The controller: the nearest line point (searched near the last one); steering by pure pursuit from the
rear axle toward the line point ``lookahead_m + lookahead_s * speed`` ahead; gas and brake from the error
to the profile's speed ``preview_s`` ahead (the brake before the corner, not in it); traction control
takes throttle off while the driven rear wheels spin faster than the car moves (car1-stock1 has the
power to spin them well past 100 km/h, and a spinning rear tyre has no grip left for the corner).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from racingline.lines.limits import CarLimits
from racingline.lines.line import RacingLine

__all__ = ["TORCS_LIMITS", "TORCS_MARGIN_M", "torcs_line", "TorcsLineDriver"]

#: racingline's TORCS car (car1-stock1) as the speed profile sees it. Lateral grip and braking were chosen
#: by driving: 13 m/s^2 and 10 m/s^2 are the highest at which the controller laps g-track-2, ruudskogen,
#: aalborg and forza cleanly (11 m/s^2 laps them 4-5% slower). Acceleration is not limiting (the controller
#: floors the throttle whenever the car is below the profile), so the table is generous.
TORCS_LIMITS = CarLimits(
    top_speed_mps=80.0,
    accel_speed_mps=np.array([0.0, 80.0]), accel_mps2=np.array([12.0, 12.0]),
    brake_speed_mps=np.array([0.0, 80.0]), brake_mps2=np.array([10.0, 10.0]),
    lat_speed_mps=np.array([0.0, 80.0]), lat_accel_mps2=np.array([13.0, 13.0]),
    meta={"car": "car1-stock1", "how": "chosen by driving the line controller (racingline.torcs.expert)"})
#: Metres the line keeps from each border (the car is ~1.9 m wide; its middle stays 2.9 m inside).
TORCS_MARGIN_M = 2.0
#: The car's wheelbase (m) for pure pursuit, and its rear wheels' radius (m) for traction control.
WHEELBASE_M = 2.6
WHEEL_RADIUS_M = 0.355
#: Traction control (as TORCS's bt robot filters its throttle): the rear wheels may spin this many m/s
#: faster than the car moves; each m/s more takes 1/TCL_RANGE of the throttle off.
TCL_SLIP_MPS = 2.0
TCL_RANGE_MPS = 10.0


def torcs_line(track: str, method: str = "mincurv", *, margin_m: float = TORCS_MARGIN_M,
               spacing_m: float = 2.0, install: Any = None) -> RacingLine:
    """A racing line of ``method`` around the TORCS track ``track`` with its speed profile (metres, TORCS's
    coordinates, point 0 at the start line; ``meta`` has ``lap_time_flying_s`` and ``lap_time_standing_s``)."""
    from racingline.lines.geometry import band_from_edges, station_count
    from racingline.lines.line import LineError
    from racingline.lines.optimize import METHODS, optimize_offsets
    from racingline.lines.speed import speed_profile
    from racingline.torcs.tracks import torcs_track

    if method not in METHODS:
        raise LineError(f"method {method!r}: unknown, expected one of {', '.join(METHODS)}")
    t = torcs_track(track, install=install)
    left, right = np.asarray(t.inside), np.asarray(t.outside)
    n = station_count(left, right, spacing_m)
    center, normal, lo, hi = band_from_edges(left, right, float(margin_m), n)

    def lap_time(xy: np.ndarray) -> float:
        return float(speed_profile(xy, TORCS_LIMITS).lap_time_flying_s)

    alpha, stats = optimize_offsets(center, normal, lo, hi, method, lap_time=lap_time, road_center=0.5 * (left + right))
    xy = center + alpha[:, None] * normal
    # Point 0 at the start line (the track's waypoint 0), the line running the track's way.
    k = int(np.argmin(np.hypot(*(xy - t.center[0]).T)))
    xy = np.roll(xy, -k, axis=0)
    if float(np.dot(xy[1] - xy[0], t.center[1] - t.center[0])) < 0:
        xy = np.roll(xy[::-1], 1, axis=0)
    profile = speed_profile(xy, TORCS_LIMITS)
    meta = {"lap_time_flying_s": float(profile.lap_time_flying_s),
            "lap_time_standing_s": float(profile.lap_time_standing_s), "n_points": int(len(xy)), "sim": "torcs",
            **{k: v for k, v in stats.items() if isinstance(v, (int, float, str, bool))}}
    return RacingLine(xy, t.name, method, float(margin_m), False, profile.speed_mps, meta)


class TorcsLineDriver:
    """Drives a TORCS car along a line of ``method`` optimised per track (see the module docstring).

    ``reset(state)`` picks the episode's line (optimised once per track); ``act(state)`` returns
    ``[steer, gas, brake]`` in the env's convention (steer +1 = right).
    """

    def __init__(self, method: str = "mincurv", *, margin_m: float = TORCS_MARGIN_M, lookahead_m: float = 4.0,
                 lookahead_s: float = 0.25, min_lookahead_m: float = 10.0, preview_s: float = 0.3, speed_gain: float = 0.5,
                 brake_gain: float = 0.25, speed_scale: float = 0.95) -> None:
        from racingline.lines.line import LineError
        from racingline.lines.optimize import METHODS

        if method not in METHODS:
            raise LineError(f"line:{method}: unknown line method on TORCS, expected one of {', '.join(METHODS)}")
        self.method = method
        self.margin_m = float(margin_m)
        self.lookahead_m, self.lookahead_s = float(lookahead_m), float(lookahead_s)
        self.min_lookahead_m = float(min_lookahead_m)
        self.preview_s = float(preview_s)
        self.speed_gain, self.brake_gain = float(speed_gain), float(brake_gain)
        self.speed_scale = float(speed_scale)
        self._lines: dict[str, tuple[RacingLine, np.ndarray, float]] = {}
        self._line: tuple[RacingLine, np.ndarray, float] | None = None
        self._near = 0

    @property
    def label(self) -> str:
        return f"line:{self.method}"

    def line_for(self, track: str) -> RacingLine:
        """The line driven on ``track`` (optimised on first use)."""
        if track not in self._lines:
            line = torcs_line(track, self.method, margin_m=self.margin_m)
            self._lines[track] = (line, line.s_m, line.length_m)
        return self._lines[track][0]

    def reset(self, state: Any) -> None:
        self.line_for(state.track_name)
        self._line = self._lines[state.track_name]
        xy = self._line[0].xy
        self._near = int(np.argmin(np.hypot(xy[:, 0] - state.x, xy[:, 1] - state.y)))

    def _at(self, s: float) -> int:
        _, arc, length = self._line
        return int(np.searchsorted(arc, s % length, side="right") - 1) % len(arc)

    def act(self, state: Any) -> np.ndarray:
        if self._line is None or self._line[0].track_name != state.track_name:
            self.reset(state)
        line, arc, _ = self._line
        xy = line.xy
        n = len(xy)
        idx = (self._near + np.arange(-20, 60)) % n
        d = (xy[idx, 0] - state.x) ** 2 + (xy[idx, 1] - state.y) ** 2
        self._near = int(idx[int(np.argmin(d))])
        speed = float(state.speed_mps)
        yaw = float(state.yaw)
        ahead = max(self.lookahead_m + self.lookahead_s * speed, self.min_lookahead_m)
        target = xy[self._at(arc[self._near] + ahead)]
        rx, ry = state.x - 0.5 * WHEELBASE_M * math.cos(yaw), state.y - 0.5 * WHEELBASE_M * math.sin(yaw)
        alpha = math.remainder(math.atan2(target[1] - ry, target[0] - rx) - yaw, math.tau)
        dist = max(math.hypot(target[0] - rx, target[1] - ry), 1e-3)
        delta = math.atan(2.0 * WHEELBASE_M * math.sin(alpha) / dist)
        from racingline.torcs.env import STEER_LOCK_RAD

        steer_left = float(np.clip(delta / STEER_LOCK_RAD, -1.0, 1.0))
        want = self.speed_scale * float(line.speed_mps[self._at(arc[self._near] + max(self.preview_s * speed, 2.0))])
        err = want - speed
        gas = float(np.clip(0.5 + self.speed_gain * err, 0.0, 1.0)) if err > -0.5 else 0.0
        brake = float(np.clip(-self.brake_gain * err, 0.0, 1.0)) if err < -0.5 else 0.0
        slip = 0.5 * (state.wheel_omega[2] + state.wheel_omega[3]) * WHEEL_RADIUS_M - float(state.speed_x_mps)
        if slip > TCL_SLIP_MPS:
            gas -= min(gas, (slip - TCL_SLIP_MPS) / TCL_RANGE_MPS)
        return np.array([-steer_left, gas, brake], dtype=np.float32)
