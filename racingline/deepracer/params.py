"""DeepRacer's ``params``: the dict a DeepRacer ``reward_function(params)`` reads, built from a :class:`CarState`.

Every key of AWS DeepRacer's "Input parameters of the AWS DeepRacer reward function" is present, with
DeepRacer's meaning and units, in the track file's own metres (not the simulator's units). The choices
made where the simulator differs from DeepRacer's (each one a deliberate decision):

``all_wheels_on_track`` (bool)
    All four wheels touch the simulated road (``wheels_on_road == 4``).
``x``, ``y`` (m)
    The car's position (hull centre) in the track file's coordinates.
``heading`` (degrees, -180..180)
    The car's yaw in the track file's frame, 0 = facing +x, counter-clockwise positive, as DeepRacer's.
    CarRacing's hull angle is 0 facing +y, so ``heading = degrees(angle + pi/2)``, wrapped to [-180, 180).
``distance_from_center`` (m)
    Distance from the centerline (the polyline through the waypoints), measured perpendicular to it.
``is_left_of_center`` (bool)
    The car is left of the centerline, looking in the driving direction.
``projection_distance`` (m)
    The car's projection on the centerline, measured along it from waypoint 0 of ``waypoints`` (the
    driving direction's waypoint 0), in [0, track_length).
``progress`` (0..100)
    Percent of the lap covered since the episode's start point: equal to ``info["progress"]``.
``steps`` (int)
    Agent steps taken this episode (1 at the first call; one step is ``frame_skip`` physics frames, see
    ``configs/deepracer.yaml``: frame skip 3 at 50 Hz is 16.7 steps/s, DeepRacer's is about 15).
``speed`` (m/s)
    The car's measured speed. DeepRacer reports the speed its action asked for; with CarRacing's
    gas/brake actions there is no asked-for speed, so this is what the car does.
``steering_angle`` (degrees, positive = left)
    The front wheels' measured angle. DeepRacer reports the action's angle (-30..30); CarRacing's
    wheels turn at most 0.4 rad (22.9 degrees) and follow the command at a finite rate.
``track_width`` (m)
    DeepRacer's full track width (inside border to outside border) at the car's centerline point, as
    the track file gives it. **The simulated road is half that width** (``env.track_width_scale`` 0.5,
    the reference tutorial's), so the road edge is at ``track_width / 4`` from the centerline, not
    ``track_width / 2``: a reward that tests ``distance_from_center <= 0.5 * track_width`` is true up to
    twice as far out as the road here, while ``all_wheels_on_track`` and ``is_offtrack`` follow the
    simulated road. DeepRacer's own values are kept so that reward files need no edit.
``track_length`` (m)
    Length of the centerline loop.
``waypoints`` (list of ``(x, y)`` tuples)
    The centerline points in the driving direction, the first repeated as the last (``N + 1`` points
    for ``N`` distinct waypoints, as DeepRacer's track files and its ``get_way_pnts`` give them). On a
    reversed episode (``is_reversed``) they are DeepRacer's reversed list: the track file's rows in
    reverse order, which starts and ends at the file's waypoint 0 (index ``k`` of the list is file
    row ``N - k``). The list is shared between calls: do not modify it.
``closest_waypoints`` ([behind, ahead])
    Indices in ``waypoints`` of the waypoints either side of the car's projection on the centerline:
    ``behind`` in 0..N-1, ``ahead = behind + 1`` in 1..N (DeepRacer's previous/next waypoints).
``is_reversed`` (bool)
    The episode drives the track opposite to the track file's order (``env.reverse``).
``is_offtrack`` (bool)
    No wheel touches the simulated road (the episode ends there when ``terminate_on_off_track``).
``is_crashed`` (bool)
    Always ``False``: there are no objects to crash into.
Object keys
    ``closest_objects``, ``objects_location``, ``objects_left_of_center``, ``objects_speed``,
    ``objects_heading``, ``objects_distance_from_center``, ``objects_distance``: empty lists;
    ``object_in_camera``: ``False`` (no objects in this simulator).

Cost: the track's part (waypoint list, arc lengths, widths, dense centerline as Python lists) is built
once per simulator track and cached; a step costs one dict and a few float operations.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from racingline.sim.geometry import SimTrack
    from racingline.sim.state import CarState

__all__ = ["PARAM_KEYS", "OBJECT_KEYS", "TrackParams", "ParamsBuilder", "reward_params"]

#: Keys describing objects on the track (none in this simulator: empty values).
OBJECT_KEYS: tuple[str, ...] = (
    "closest_objects", "objects_location", "objects_left_of_center", "object_in_camera", "objects_speed",
    "objects_heading", "objects_distance_from_center", "objects_distance",
)
#: Every key of ``params``, in DeepRacer's documentation order (car and track first, objects last).
PARAM_KEYS: tuple[str, ...] = (
    "all_wheels_on_track", "x", "y", "heading", "distance_from_center", "is_left_of_center",
    "projection_distance", "progress", "steps", "speed", "steering_angle", "track_width", "track_length",
    "waypoints", "closest_waypoints", "is_reversed", "is_offtrack", "is_crashed", *OBJECT_KEYS,
)
#: Simulator tracks whose precomputed part is kept per builder.
_CACHE_SIZE = 64


class TrackParams:
    """The per-track part of ``params``, computed once per simulator track (driving direction included)."""

    def __init__(self, sim: SimTrack) -> None:
        track = sim.track
        scale = float(sim.scale)
        self.sim = sim
        self.scale = scale
        self.inv_scale = 1.0 / scale
        center = np.asarray(track.center, dtype=np.float64)
        n = len(center)
        self.n_waypoints = n
        self.waypoints: list[tuple[float, float]] = [(float(x), float(y)) for x, y in center.tolist()]
        self.waypoints.append(self.waypoints[0])
        #: Arc length (sim units) of each waypoint from waypoint 0, ascending.
        self.arcs: list[float] = (np.asarray(track.arc_m, dtype=np.float64) * scale).tolist()
        self.length = float(sim.length)
        self.length_m = self.length * self.inv_scale
        self.ds = float(sim.ds)
        self.dense_x: list[float] = sim.dense_xy[:, 0].tolist()
        self.dense_y: list[float] = sim.dense_xy[:, 1].tolist()
        self.tan_x: list[float] = sim.dense_tangent[:, 0].tolist()
        self.tan_y: list[float] = sim.dense_tangent[:, 1].tolist()
        # Full (DeepRacer) width at each dense point, linear between waypoints along the loop.
        s = np.arange(len(self.dense_x)) * self.ds
        arcs = np.concatenate([np.asarray(self.arcs), [self.length]])
        widths = np.asarray(track.widths_m, dtype=np.float64)
        self.width_m: list[float] = np.interp(s, arcs, np.concatenate([widths, widths[:1]])).tolist()
        self.ox = float(sim.origin_m[0])
        self.oy = float(sim.origin_m[1])

    def params(self, state: CarState) -> dict[str, Any]:
        """``params`` for ``state`` (a new dict; ``waypoints`` is this track's shared list)."""
        k = state.proj
        px, py = state.x, state.y
        dx = px - self.dense_x[k]
        dy = py - self.dense_y[k]
        tx, ty = self.tan_x[k], self.tan_y[k]
        lateral = tx * dy - ty * dx  # positive: left of the driving direction
        s = (k * self.ds + tx * dx + ty * dy) % self.length
        behind = bisect_right(self.arcs, s) - 1
        if behind < 0:
            behind = 0
        inv = self.inv_scale
        heading = math.degrees(state.angle + 0.5 * math.pi)
        heading = (heading + 180.0) % 360.0 - 180.0
        return {
            "all_wheels_on_track": state.wheels_on_road == 4,
            "x": px * inv + self.ox,
            "y": py * inv + self.oy,
            "heading": heading,
            "distance_from_center": abs(lateral) * inv,
            "is_left_of_center": lateral > 0.0,
            "projection_distance": s * inv,
            "progress": state.progress,
            "steps": state.steps,
            "speed": math.hypot(state.vx, state.vy) * inv,
            "steering_angle": math.degrees(state.steer_angle),
            "track_width": self.width_m[k],
            "track_length": self.length_m,
            "waypoints": self.waypoints,
            "closest_waypoints": [behind, behind + 1],
            "is_reversed": bool(state.track_reversed),
            "is_offtrack": bool(state.off_track),
            "is_crashed": False,
            "closest_objects": [],
            "objects_location": [],
            "objects_left_of_center": [],
            "object_in_camera": False,
            "objects_speed": [],
            "objects_heading": [],
            "objects_distance_from_center": [],
            "objects_distance": [],
        }


class ParamsBuilder:
    """Builds ``params`` from states, keeping each simulator track's :class:`TrackParams`."""

    def __init__(self) -> None:
        self._tracks: dict[int, TrackParams] = {}
        self._last: TrackParams | None = None

    def track(self, sim: SimTrack) -> TrackParams:
        """The precomputed part for ``sim`` (built on first use)."""
        last = self._last
        if last is not None and last.sim is sim:
            return last
        tp = self._tracks.get(id(sim))
        if tp is None or tp.sim is not sim:  # TrackParams holds sim, so its id is not reused while cached
            if len(self._tracks) >= _CACHE_SIZE:
                self._tracks.clear()
            tp = self._tracks[id(sim)] = TrackParams(sim)
        self._last = tp
        return tp

    def __call__(self, state: CarState) -> dict[str, Any]:
        return self.track(state.sim).params(state)


_BUILDER = ParamsBuilder()


def reward_params(state: CarState) -> dict[str, Any]:
    """DeepRacer's ``params`` dict for ``state`` (see the module notes for every key)."""
    return _BUILDER(state)
