"""Driving a racing line in the simulator: a tracking controller and a one-lap driver.

:class:`LineFollower` drives :class:`~racingline.sim.env.DeepRacerEnv`'s car along a
:class:`~racingline.lines.line.RacingLine` at the line's speed profile, reading only the published
:class:`~racingline.sim.state.CarState`. :func:`drive_line` drives one lap of a line from a standing start
(or a flying lap) and reports the lap time, the off-track steps and how far the car strayed from the line
(:class:`DriveResult`). It is the yardstick a learned agent's lap is compared with.

The controller, in the track file's metres (CarState's ``position_m`` and ``speed_mps``):

- Where: the car's nearest point on the line (a local search around the last one).
- Steering: pure pursuit from the rear axle toward the line point ``lookahead_m + lookahead_s * speed``
  ahead, ``delta = atan(wheelbase * 2 sin(alpha) / distance)``, with yaw-rate damping: the yaw rate in
  excess of the pursued curvature times the speed steers back (``yaw_damping``), which catches the
  oversteer slides the car starts near its grip limit. CarRacing's steering command is the front
  wheels' target angle in radians (the joint stops at 0.4 rad), so the action is ``-delta``.
- Speed: the profile's acceleration ``v dv/ds`` a short preview ahead (``preview_s`` of travel) as a
  feed-forward, plus ``speed_gain`` times the speed error. Braking below wheel lock is proportional
  (CarRacing's brake takes ``15 * brake`` rad/s off each wheel's spin per physics step: about
  ``12.3 * brake`` m/s^2 with the wheels still rolling, up to ~0.7, where they lock and steering is lost),
  so the brake is ``-a / 12.3`` capped at ``max_brake``.
- Traction control: the rear wheels spin under throttle (gas raises their spin with no regard for grip),
  and a spinning rear tyre has no grip left for cornering. Gas is cut while the rear wheels' surface speed
  exceeds the car's forward speed by more than ``slip_max_mps * sqrt(1 - u^2) + slip_min_mps``, with
  ``u`` the fraction of the lateral grip in use (yaw rate x speed over the measured lateral grip).

The speed profile followed is made by :func:`racingline.lines.speed.speed_profile` at ``speed_scale``
(default :data:`DEFAULT_SPEED_SCALE` of the measured grip), and the lap estimate compared with is that
profile's; ``speed_scale=None`` follows the line's own ``speed_mps``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium.envs.box2d.car_dynamics import SIZE, WHEEL_R, WHEELPOS

from racingline.lines.line import LineError, RacingLine
from racingline.sim.env import FPS, TRACK_SCALE, DeepRacerEnv
from racingline.sim.state import CarState

__all__ = [
    "LineFollower",
    "DriveResult",
    "drive_line",
    "line_deviation_m",
    "DEFAULT_SPEED_SCALE",
    "WHEELBASE_M",
    "MAX_STEER_RAD",
]

#: Fraction of the measured limits the driven speed profile uses (speeds; grip and braking at its square).
#: 1.0 drives all 76 laps of the 2022 benchmark cleanly too; 0.95 leaves ~10 % of the grip in reserve.
DEFAULT_SPEED_SCALE = 0.95
#: Car geometry in the track's metres (CarRacing's car: SIZE per body unit, TRACK_SCALE sim units per metre).
FRONT_AXLE_M = WHEELPOS[0][1] * SIZE / TRACK_SCALE
REAR_AXLE_M = -WHEELPOS[2][1] * SIZE / TRACK_SCALE
WHEELBASE_M = FRONT_AXLE_M + REAR_AXLE_M
WHEEL_RADIUS_M = WHEEL_R * SIZE / TRACK_SCALE
#: The front wheels' steering joint limit (rad); CarRacing's steer command is the target joint angle.
MAX_STEER_RAD = 0.4
#: Deceleration (m/s^2) per unit of brake while the wheels still roll (brake below ~0.7).
BRAKE_DECEL_PER_UNIT = 12.3
#: Lateral grip assumed by traction control when no limits are given (m/s^2; the shipped table's ~8.5).
DEFAULT_LAT_ACCEL_MPS2 = 8.5
#: A car farther than this from the line near its last place is looked for along the whole line (metres).
LOST_M = 0.5
#: Deviation from the line is also reported after the car has driven this far (the start is on the
#: centerline, which an optimised line may leave by a few tenths of a metre at waypoint 0).
SETTLE_M = 2.0


def _closed_arrays(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    seg = np.roll(xy, -1, axis=0) - xy
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    s = np.concatenate([[0.0], np.cumsum(seg_len)[:-1]])
    return seg, seg_len, s


def _with_profile(line: RacingLine, limits: Any, speed_scale: float) -> RacingLine:
    """``line`` with the speed profile of ``limits`` at ``speed_scale`` and its lap estimates in ``meta``."""
    from racingline.lines.speed import speed_profile

    prof = speed_profile(line.xy, limits, speed_scale=speed_scale)
    return line.with_speed(prof.speed_mps, lap_time_flying_s=float(prof.lap_time_flying_s),
                           lap_time_standing_s=float(prof.lap_time_standing_s), speed_scale=float(speed_scale))


def _starting_at(line: RacingLine, track: Any, start_waypoint: int) -> RacingLine:
    """``line`` rotated to begin at its point nearest the driving direction's waypoint ``start_waypoint``
    (wrapping, as the env does). A standing-start estimate it carries (from its old point 0) is dropped."""
    from racingline.tracks.files import Track, load_track

    base = track if isinstance(track, Track) else load_track(track)
    drive = base.reversed() if line.reverse else base
    where = drive.center[int(start_waypoint) % drive.n_waypoints]
    i = int(np.argmin(np.hypot(*(line.xy - where).T)))
    meta = {k: v for k, v in line.meta.items() if k != "lap_time_standing_s"}
    meta["start_waypoint"] = int(start_waypoint)
    speed = None if line.speed_mps is None else np.roll(line.speed_mps, -i)
    return RacingLine(np.roll(line.xy, -i, axis=0), line.track_name, line.method, line.margin_m, line.reverse,
                      speed, meta)


class LineFollower:
    """Drives DeepRacerEnv's car along a racing line at its speed profile (see the module docstring).

    Args:
        line: the line (track-file metres).
        limits: the car's limits (:class:`~racingline.lines.limits.CarLimits`; default: the shipped table):
            the speed profile is made with them, and traction control reads the lateral grip.
        speed_scale: the profile's fraction of the measured limits; ``None`` follows ``line.speed_mps``
            as it is (a line without one gets a profile at :data:`DEFAULT_SPEED_SCALE`).
        lookahead_m, lookahead_s: pure-pursuit look-ahead, metres plus seconds of travel at the current speed.
        yaw_damping: gain on the yaw rate in excess of the pursued curvature (0 turns it off).
        preview_s: the acceleration feed-forward is read this many seconds of travel ahead.
        speed_gain: acceleration (m/s^2) commanded per m/s of speed error.
        gas_gain: gas per m/s^2 of commanded acceleration (capped at 1).
        max_brake: largest brake command (above ~0.7 the wheels lock and the car cannot steer).
        slip_max_mps, slip_min_mps: rear-wheel slip allowed on a straight and at the grip limit (m/s).

    Attributes:
        line: the line followed, with the speed profile in use (``meta`` holds its lap estimates).
        index, station_m, offset_m: after each call, the car's segment on the line, arc length (m) and
            signed offset from the line (m, positive to the left).
    """

    def __init__(
        self,
        line: RacingLine,
        limits: Any = None,
        *,
        speed_scale: float | None = DEFAULT_SPEED_SCALE,
        lookahead_m: float = 0.12,
        lookahead_s: float = 0.12,
        yaw_damping: float = 1.0,
        preview_s: float = 0.06,
        speed_gain: float = 5.0,
        gas_gain: float = 1.0,
        max_brake: float = 0.7,
        slip_max_mps: float = 0.4,
        slip_min_mps: float = 0.05,
    ) -> None:
        if limits is None:
            from racingline.lines.limits import load_limits

            limits = load_limits()
        if speed_scale is not None:
            if not (isinstance(speed_scale, (int, float)) and math.isfinite(speed_scale) and speed_scale > 0):
                raise LineError(f"speed_scale must be a positive number, got {speed_scale!r}")
            line = _with_profile(line, limits, float(speed_scale))
        elif line.speed_mps is None:
            line = _with_profile(line, limits, DEFAULT_SPEED_SCALE)
        self.line = line
        self.limits = limits
        self.xy = np.asarray(line.xy, dtype=np.float64)
        self.n = len(self.xy)
        self.seg, self.seg_len, self.s = _closed_arrays(self.xy)
        self.length = float(self.seg_len.sum())
        self.speed = np.asarray(line.speed_mps, dtype=np.float64)
        v1 = np.roll(self.speed, -1)
        #: Profile acceleration on each segment (m/s^2): v dv/ds.
        self.accel = (v1 * v1 - self.speed * self.speed) / (2.0 * np.maximum(self.seg_len, 1e-9))
        lat = getattr(limits, "lat_accel_mps2", None)
        self.lat_accel_mps2 = float(np.max(lat)) if lat is not None and len(lat) else DEFAULT_LAT_ACCEL_MPS2
        self.lookahead_m = float(lookahead_m)
        self.lookahead_s = float(lookahead_s)
        self.yaw_damping = float(yaw_damping)
        self.preview_s = float(preview_s)
        self.speed_gain = float(speed_gain)
        self.gas_gain = float(gas_gain)
        self.max_brake = float(max_brake)
        self.slip_max_mps = float(slip_max_mps)
        self.slip_min_mps = float(slip_min_mps)
        spacing = max(float(np.median(self.seg_len)), 1e-6)
        # Local search window (points): 0.5 m back, 1.5 m ahead (a car at top speed moves 0.08 m a frame).
        self._back = max(3, int(math.ceil(0.5 / spacing)))
        self._ahead = max(3, int(math.ceil(1.5 / spacing)))
        self.reset()

    def reset(self) -> None:
        """Forget the car's place on the line (the next call searches the whole line)."""
        self.index: int | None = None
        self.station_m = 0.0
        self.offset_m = 0.0

    # ------------------------------------------------------------------ geometry
    def _project(self, px: float, py: float) -> tuple[int, float, float]:
        """Nearest segment to ``(px, py)``: its index, the arc length there and the signed offset (left +).

        The search looks near the last segment; the whole line when there is none, or when the car is
        more than :data:`LOST_M` from the segments nearby."""
        if self.index is None or self._back + self._ahead >= self.n:
            return self._nearest(px, py, np.arange(self.n))
        found = self._nearest(px, py, np.arange(self.index - self._back, self.index + self._ahead) % self.n)
        return found if abs(found[2]) <= LOST_M else self._nearest(px, py, np.arange(self.n))

    def _nearest(self, px: float, py: float, idx: np.ndarray) -> tuple[int, float, float]:
        a = self.xy[idx]
        d = self.seg[idx]
        L2 = np.maximum(self.seg_len[idx] ** 2, 1e-18)
        t = np.clip(((px - a[:, 0]) * d[:, 0] + (py - a[:, 1]) * d[:, 1]) / L2, 0.0, 1.0)
        qx = a[:, 0] + t * d[:, 0] - px
        qy = a[:, 1] + t * d[:, 1] - py
        k = int(np.argmin(qx * qx + qy * qy))
        i = int(idx[k])
        cross = d[k, 0] * (py - a[k, 1]) - d[k, 1] * (px - a[k, 0])
        dist = math.hypot(qx[k], qy[k])
        return i, float(self.s[i] + t[k] * self.seg_len[i]), (dist if cross >= 0 else -dist)

    def _segment_at(self, s: float) -> tuple[int, float]:
        s = s % self.length
        i = int(np.searchsorted(self.s, s, side="right") - 1)
        return i, (s - self.s[i]) / max(self.seg_len[i], 1e-12)

    def _point_at(self, s: float) -> tuple[float, float]:
        i, t = self._segment_at(s)
        return float(self.xy[i, 0] + t * self.seg[i, 0]), float(self.xy[i, 1] + t * self.seg[i, 1])

    def speed_at(self, s: float) -> float:
        """The profile's speed (m/s) at arc length ``s`` (metres from point 0, wrapping)."""
        i, t = self._segment_at(s)
        v0, v1 = self.speed[i], self.speed[(i + 1) % self.n]
        return float(v0 + t * (v1 - v0))

    # ------------------------------------------------------------------ control
    def continuous(self, state: CarState | Any) -> np.ndarray:
        """Continuous ``[steer, gas, brake]`` action for ``state`` (or an env that publishes ``state``)."""
        if not isinstance(state, CarState):
            state = state.state
        px, py = state.position_m
        a = state.angle
        fx, fy = -math.sin(a), math.cos(a)  # heading (angle 0 faces +y)
        scale = state.sim.scale
        vx, vy = state.vx / scale, state.vy / scale
        v = math.hypot(vx, vy)
        vf = vx * fx + vy * fy

        i, s_now, offset = self._project(px, py)
        self.index, self.station_m, self.offset_m = i, s_now, offset

        # Steering: pure pursuit from the rear axle, plus yaw-rate damping.
        rx, ry = px - REAR_AXLE_M * fx, py - REAR_AXLE_M * fy
        tx, ty = self._point_at(s_now + self.lookahead_m + self.lookahead_s * v)
        dx, dy = tx - rx, ty - ry
        ahead = fx * dx + fy * dy
        left = -fy * dx + fx * dy
        kappa = 2.0 * left / max(ahead * ahead + left * left, 1e-9)
        delta = math.atan(WHEELBASE_M * kappa)
        if self.yaw_damping:
            delta -= self.yaw_damping * (state.yaw_rate - kappa * v) * WHEELBASE_M / max(v, 0.5)
        delta = max(-MAX_STEER_RAD, min(MAX_STEER_RAD, delta))

        # Speed: the profile's acceleration a little ahead, plus feedback on the speed error.
        j, _ = self._segment_at(s_now + v * self.preview_s)
        a_cmd = float(self.accel[j]) + self.speed_gain * (self.speed_at(s_now) - v)
        gas = brake = 0.0
        if a_cmd >= 0.0:
            gas = min(1.0, self.gas_gain * a_cmd)
            om = state.wheel_omega
            rear_slip = max(om[2], om[3]) * WHEEL_RADIUS_M - vf
            u = min(1.0, abs(state.yaw_rate) * v / self.lat_accel_mps2)
            if rear_slip > self.slip_max_mps * math.sqrt(1.0 - u * u) + self.slip_min_mps:
                gas = 0.0  # traction control (gas drops at once and ramps back at 0.1 a frame)
        else:
            brake = min(self.max_brake, -a_cmd / BRAKE_DECEL_PER_UNIT)
        return np.array([-delta, gas, brake], dtype=np.float32)  # the env's +steer turns right


def line_deviation_m(line_xy: np.ndarray, points_m: np.ndarray, *, chunk: int = 256) -> np.ndarray:
    """Distance (metres) of each of ``points_m`` ``(T, 2)`` to the closed polyline ``line_xy`` ``(N, 2)``."""
    xy = np.asarray(line_xy, dtype=np.float64)
    pts = np.asarray(points_m, dtype=np.float64).reshape(-1, 2)
    seg = np.roll(xy, -1, axis=0) - xy
    L2 = np.maximum((seg * seg).sum(axis=1), 1e-18)
    out = np.empty(len(pts))
    for k in range(0, len(pts), chunk):
        rel = pts[k:k + chunk, None, :] - xy[None]
        t = np.clip((rel * seg[None]).sum(axis=2) / L2[None], 0.0, 1.0)
        q = rel - t[..., None] * seg[None]
        out[k:k + chunk] = np.sqrt((q * q).sum(axis=2).min(axis=1))
    return out


@dataclass
class DriveResult:
    """One driven lap of a line.

    Attributes:
        lap_complete: the car covered the whole centerline (the env's lap rule).
        lap_time_s: simulated time of the lap (when it was not completed: the time driven).
        off_track_steps: agent steps that ended with all four wheels off the road (the whole drive).
        max_dev_m, mean_dev_m: largest and mean distance of the car from the line over the lap (metres).
        positions_m: ``(T, 2)`` car positions after each step of the lap (track metres); speeds_mps: ``(T,)``.
        line: the line driven, with the speed profile followed (its ``meta`` holds the lap estimates).
        lap_time_estimate_s: that profile's lap estimate for this start (standing or flying), or ``None``.
        steps: agent steps driven (a flying lap counts its run-up lap too); progress: percent of the
            centerline covered (100 for a complete lap).
        standing_start: the lap started from rest at the start waypoint (else it is the second, flying, lap).
        max_dev_settled_m: ``max_dev_m`` after the first :data:`SETTLE_M` metres of a standing start
            (the car starts on the centerline, not on the line).
    """

    lap_complete: bool
    lap_time_s: float
    off_track_steps: int
    max_dev_m: float
    mean_dev_m: float
    positions_m: np.ndarray
    speeds_mps: np.ndarray
    line: RacingLine | None = None
    lap_time_estimate_s: float | None = None
    steps: int = 0
    progress: float = 0.0
    standing_start: bool = True
    max_dev_settled_m: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """Driven lap time over the estimate (``None`` without a complete lap or an estimate)."""
        if not self.lap_complete or not self.lap_time_estimate_s:
            return None
        return self.lap_time_s / self.lap_time_estimate_s


def drive_line(
    line: RacingLine,
    track: Any,
    *,
    limits: Any = None,
    max_steps: int | None = None,
    frame_skip: int = 1,
    standing_start: bool = True,
    on_frame: Callable[[CarState], Any] | None = None,
    speed_scale: float | None = DEFAULT_SPEED_SCALE,
    follower: LineFollower | None = None,
    start_waypoint: int = 0,
) -> DriveResult:
    """Drive ``line`` around ``track`` with a :class:`LineFollower` in a :class:`DeepRacerEnv`.

    Args:
        line: the line (its ``reverse`` picks the direction: ``track.reversed()`` when set).
        track: the track the line was made for, as loaded (a :class:`~racingline.tracks.files.Track`, a
            path or a name).
        limits: the car's limits for the speed profile (default: the shipped table).
        max_steps: agent steps at most (default: three times the estimate, at least 60 s of driving).
        frame_skip: physics steps per controller step (1: the controller acts every physics step).
        standing_start: time one lap from rest at ``start_waypoint``; ``False``: drive on after that lap and time
            the next one (a flying lap, compared with the flying estimate). After the first lap the env
            reports the episode done and runs one physics frame per step; the drive goes on regardless.
        on_frame: called with the :class:`CarState` after every step.
        speed_scale: the speed profile's fraction of the measured limits; ``None`` drives the line's
            own ``speed_mps`` (see :class:`LineFollower`).
        follower: a ready controller (``limits`` and ``speed_scale`` are then its own).
        start_waypoint: the waypoint the car starts from, counted in the driving direction's waypoint order
            (as the env's ``start_waypoint``, so an agent's episode and this lap start at the same place).
            The line is rotated to begin at its point nearest that waypoint, so the standing-start estimate
            is from there (a line's own profile, ``speed_scale=None``, then has no standing estimate; nor has
            a given ``follower`` started elsewhere than 0).

    Returns:
        a :class:`DriveResult`. The episode never ends for leaving the road: off-track steps are counted.
    """
    if int(frame_skip) < 1:
        raise ValueError(f"frame_skip: must be >= 1, got {frame_skip}")
    start = int(start_waypoint)
    if start < 0:
        raise ValueError(f"start_waypoint: must be >= 0, got {start_waypoint}")
    given = follower is not None
    if follower is None:
        if start:
            line = _starting_at(line, track, start)
        follower = LineFollower(line, limits, speed_scale=speed_scale)
    driven = follower.line
    key = "lap_time_standing_s" if standing_start else "lap_time_flying_s"
    est = driven.meta.get(key)
    est = float(est) if isinstance(est, (int, float)) and est > 0 else None
    if given and start and standing_start:
        est = None  # the follower's profile starts at its line's point 0, not at this start
    laps = 1 if standing_start else 2
    if max_steps is None:
        budget_s = max(60.0, 3.0 * (est if est else driven.length_m / 1.0)) * laps
        max_steps = int(math.ceil(budget_s * FPS / frame_skip))
    env = DeepRacerEnv(track, obs="features", continuous=True, frame_skip=int(frame_skip), reward="progress",
                       terminate_on_off_track=False, max_episode_steps=int(max_steps), start_waypoint=start,
                       reverse=bool(line.reverse))
    positions: list[tuple[float, float]] = []
    speeds: list[float] = []
    off = 0
    timing = standing_start  # a flying lap is timed from the end of the run-up lap
    lap_start_t = 0.0
    advance = 0.0  # centerline advance since the start (sim units), for the flying lap's end
    done = False
    try:
        env.reset(seed=0)
        follower.reset()
        state = env.state
        for _ in range(int(max_steps)):
            _, _, _, _, info = env.step(follower.continuous(state))
            state = env.state
            off += bool(info["off_track"])
            positions.append(state.position_m)
            speeds.append(state.speed_mps)
            if on_frame is not None:
                on_frame(state)
            if state.out_of_playfield:
                break
            if standing_start:
                if state.lap_complete:
                    done = True
                    break
                continue
            advance += sum(state.frame_advance)
            if not timing:
                if state.lap_complete:
                    timing, lap_start_t = True, state.time_s
                    positions, speeds = [], []
            elif advance >= 2.0 * state.sim.length - 0.5 * state.sim.ds:
                done = True
                break
    finally:
        env.close()
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    dev = line_deviation_m(driven.xy, pos) if len(pos) else np.zeros(0)
    if standing_start and len(pos):
        travelled = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pos, axis=0).T))])
        settled = dev[travelled >= SETTLE_M]
    else:
        settled = dev
    lap_time = state.time_s - lap_start_t
    if standing_start:
        progress = float(state.progress)
    else:
        lap_u = advance - state.sim.length if timing else 0.0
        progress = 100.0 if done else float(np.clip(100.0 * lap_u / state.sim.length, 0.0, 100.0))
    return DriveResult(
        lap_complete=bool(done), lap_time_s=float(lap_time), off_track_steps=int(off),
        max_dev_m=float(dev.max()) if len(dev) else 0.0, mean_dev_m=float(dev.mean()) if len(dev) else 0.0,
        positions_m=pos, speeds_mps=np.asarray(speeds, dtype=np.float64), line=driven,
        lap_time_estimate_s=est, steps=int(state.steps), progress=progress, standing_start=bool(standing_start),
        max_dev_settled_m=float(settled.max()) if len(settled) else 0.0)
