"""CarState: the frozen per-step snapshot of the car on its track that every part reads.

The simulator publishes one :class:`CarState` after each reset and each agent step. Observers turn it
into observations, rewards into rewards, controllers into actions, and recorders into data; none of them
reads the simulator's own attributes. Lengths are in sim units (the track's metres times
``sim.scale``), angles in radians, unless a name says ``_m``, ``_mps`` or ``_deg``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from racingline.sim.geometry import SimTrack
    from racingline.sim.road import RoadScene

__all__ = ["CarState"]


@dataclass(frozen=True, slots=True, eq=False)
class CarState:
    """The car and its progress after a reset or an agent step (``frame_skip`` physics frames).

    Attributes:
        x, y: hull position (sim units); angle: hull angle (rad; 0 faces +y, CarRacing's convention).
        vx, vy: hull velocity (sim units/s); yaw_rate: hull angular velocity (rad/s, positive = left).
        steer_angle: front-wheel steering angle (rad, positive = left).
        wheel_omega: angular velocities of the four wheels (front-left, front-right, rear-left, rear-right).
        wheels_on_road: how many wheels touch the road (0-4); off_track: none does.
        proj: index of the dense centerline point nearest the car (``sim.dense_xy[proj]``).
        progress: percent (0-100) of the centerline covered in the driving direction since the start.
        lap_complete: the car has covered the whole centerline.
        reversed: the car moves (or, nearly stopped, faces) against the driving direction.
        frame_advance: signed centerline advance in each physics frame of this step (sim units).
        track_length: centerline length (sim units).
        out_of_playfield: the car left the simulated area (the episode ends).
        off_track_end: the episode ends because the car left the road (``terminate_on_off_track``).
        steps: agent steps since the reset; time_s: simulated time since the first action.
        off_track_count: times the car left the road this episode.
        score_before, frame_score: CarRacing's running tile score before this step and after each frame.
        tiles_visited: road tiles touched so far.
        sim: the track in the simulator (dense centerline, tiles); road: the drawable road scene (live
            objects, for renderers), or ``None``.
        car: the simulator's car (live object, for renderers that draw it), or ``None``.
        track_name, track_reversed, start_waypoint: the episode's track, direction and start waypoint.
    """

    x: float
    y: float
    angle: float
    vx: float
    vy: float
    yaw_rate: float
    steer_angle: float
    wheel_omega: tuple[float, float, float, float]
    wheels_on_road: int
    off_track: bool
    proj: int
    progress: float
    lap_complete: bool
    reversed: bool
    frame_advance: tuple[float, ...]
    track_length: float
    out_of_playfield: bool
    off_track_end: bool
    steps: int
    time_s: float
    off_track_count: int
    score_before: float
    frame_score: tuple[float, ...]
    tiles_visited: int
    sim: SimTrack
    road: RoadScene | None
    car: Any
    track_name: str
    track_reversed: bool
    start_waypoint: int

    @property
    def speed(self) -> float:
        """Speed, sim units/s."""
        return math.hypot(self.vx, self.vy)

    @property
    def speed_mps(self) -> float:
        """Speed in the track's metres per second."""
        return math.hypot(self.vx, self.vy) / self.sim.scale

    @property
    def position_m(self) -> tuple[float, float]:
        """Position in the track file's metres."""
        sim = self.sim
        ox, oy = sim.origin_m
        return (self.x / sim.scale + float(ox), self.y / sim.scale + float(oy))

    @property
    def closest_waypoint(self) -> int:
        """Index of the track waypoint nearest the car's projection on the centerline."""
        return self.sim.closest_waypoint(self.proj)

    def info(self) -> dict[str, Any]:
        """The env's ``info`` dict for this state (lap metrics, position, track)."""
        return {
            "progress": self.progress,
            "lap_complete": self.lap_complete,
            "lap_steps": self.steps,
            "lap_time_s": self.time_s,
            "off_track": self.off_track,
            "off_track_count": self.off_track_count,
            "reversed": self.reversed,
            "position_m": self.position_m,
            "speed_mps": self.speed_mps,
            "track": self.track_name,
            "track_reversed": self.track_reversed,
            "start_waypoint": self.start_waypoint,
            "closest_waypoint": self.closest_waypoint,
            # For DeepRacer's simulation-trace logs (racingline/deepracer/simtrace.py): the heading and the
            # front wheels' steering angle in degrees (positive = left; heading 0 = the track's +x axis).
            "heading_deg": math.degrees(math.remainder(self.angle + math.pi / 2, math.tau)),
            "steering_deg": math.degrees(self.steer_angle),
            "wheels_on_road": self.wheels_on_road,
            "track_length_m": self.track_length / self.sim.scale,
        }
