"""``TorcsState``: the car on its TORCS track after a reset or a step, in the shape of racingline's
:class:`~racingline.sim.state.CarState`, so the parts that read a car state (recorders, controllers,
DAgger's expert) read a TORCS car the same way.

TORCS's own metres and axes are kept (``scale`` 1, origin 0): ``x, y`` the car's position in TORCS's
track coordinates (as :func:`racingline.torcs.tracks.torcs_track` draws the track), ``angle`` CarRacing's
heading convention (0 faces +y: TORCS's yaw less 90 degrees). A TORCS track is its own driving direction
and every race starts on the grid, so ``track_reversed`` is False and ``start_waypoint`` 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from racingline.tracks.files import Track

__all__ = ["TorcsState", "TorcsTrackView"]


class TorcsTrackView:
    """The few facts of a TORCS track a car state's readers ask of ``state.sim``: metres (``scale`` 1,
    ``origin_m`` 0), the track, and waypoint ``i`` as the nearest one to centerline point ``i``."""

    scale = 1.0
    origin_m = (0.0, 0.0)

    def __init__(self, track: Track) -> None:
        self.track = track
        self.center = track.center

    def closest_waypoint(self, proj: int) -> int:
        return int(proj)

    def nearest(self, x: float, y: float, hint: int | None = None, window: int = 40) -> int:
        """The centerline point nearest ``(x, y)``: searched around ``hint`` when given, else everywhere."""
        c = self.center
        if hint is None:
            idx = np.arange(len(c))
        else:
            idx = (int(hint) + np.arange(-window, window + 1)) % len(c)
        d = (c[idx, 0] - x) ** 2 + (c[idx, 1] - y) ** 2
        return int(idx[int(np.argmin(d))])


@dataclass(frozen=True, slots=True, eq=False)
class TorcsState:
    """A TORCS car after a reset or an agent step (fields as :class:`~racingline.sim.state.CarState`'s, metres).

    Besides CarState's: ``yaw`` (TORCS's heading, rad, 0 = +x), ``track_pos`` (SCR trackPos: 0 at the
    middle, +-1 at the edges, + = left), ``wheel_omega`` (TORCS's wheel order: front right, front left, rear
    right, rear left; rad/s), ``speed_x_mps`` (forward speed), ``distance_m`` (raced since the
    start), ``lap_times_s`` and ``laps_completed``. ``steer_angle`` is the commanded front-wheel angle
    (steer x the car's steer lock, positive = left); ``wheels_on_road`` is 4 on the road, 0 off it.
    """

    x: float
    y: float
    yaw: float
    angle: float
    vx: float
    vy: float
    speed_x_mps: float
    yaw_rate: float
    steer_angle: float
    wheel_omega: tuple[float, float, float, float]
    track_pos: float
    wheels_on_road: int
    off_track: bool
    proj: int
    progress: float
    lap_complete: bool
    reversed: bool
    track_length: float
    off_track_end: bool
    steps: int
    time_s: float
    off_track_count: int
    distance_m: float
    laps_completed: int
    lap_times_s: tuple[float, ...]
    sim: TorcsTrackView
    track_name: str
    out_of_playfield: bool = False
    track_reversed: bool = False
    start_waypoint: int = 0

    @property
    def speed_mps(self) -> float:
        return math.hypot(self.vx, self.vy)

    @property
    def speed(self) -> float:
        return math.hypot(self.vx, self.vy)

    @property
    def position_m(self) -> tuple[float, float]:
        return (float(self.x), float(self.y))

    @property
    def closest_waypoint(self) -> int:
        return int(self.proj)
