"""Speed profile of a closed line under the car's measured limits: forward/backward passes, lap times.

:func:`speed_profile` gives, for a closed polyline in metres, the fastest speed at each point the car can hold
(:class:`~racingline.lines.limits.CarLimits`), the time at each point, and the lap time from a flying and from a
standing start:

1. cornering cap: at each point the curvature ``kappa`` (:func:`racingline.lines.line.polyline_curvature`)
   allows ``v_max = max_speed_for_curvature(kappa)`` (``v^2 |kappa| <= lat_accel_at(v)``, at most the top
   speed), times ``speed_scale``;
2. backward pass (braking): ``v_i^2 <= v_{i+1}^2 + 2 b ds_i`` with ``b`` the measured full-brake deceleration;
3. forward pass (acceleration): ``v_{i+1}^2 <= v_i^2 + 2 a ds_i`` with ``a`` the measured full-throttle
   acceleration at ``v_i``;
4. on the closed loop the passes start at the slowest cornering cap and go round the loop until nothing changes
   (the flying-lap profile is periodic: the speed at the last point leads into the first);
5. times by the trapezoid rule, ``dt_i = 2 ds_i / (v_i + v_{i+1})``.

Friction circle (``friction_circle=True``, the default): the simulated car's tyres share one friction limit
between cornering and braking or driving (each wheel's force is capped by one magnitude), so the longitudinal
acceleration available at a point is the straight-line value times ``sqrt(1 - u^2)``, with
``u = v^2 |kappa| / a_lat`` the fraction of the lateral grip in use (``u`` capped at 1). ``a_lat`` and the
braking deceleration are scaled by ``speed_scale**2`` (a profile at ``speed_scale`` 0.9 uses 81 % of the grip),
the engine's acceleration is not (the car cannot do more than full throttle, and a slower profile may use it).

A standing start: the forward pass from ``v = 0`` at point 0, capped by the flying profile (which carries every
cornering and braking constraint), until the line closes at point 0 again.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from racingline.lines.limits import CarLimits
from racingline.lines.line import LineError, polyline_curvature

__all__ = ["SpeedProfile", "speed_profile"]

#: Passes around the loop at most (the profile is periodic after one backward and one forward pass from the
#: slowest point; further passes only check that).
_MAX_ROUNDS = 4


@dataclass(frozen=True, eq=False)
class SpeedProfile:
    """The speed profile of a closed line.

    Attributes:
        speed_mps: ``(N,)`` flying-lap speed at each point (m/s, > 0), periodic around the loop.
        time_s: ``(N,)`` time at each point from point 0 on the flying lap (s; ``time_s[0] == 0``).
        lap_time_flying_s: one lap at ``speed_mps`` (s), closing segment included.
        lap_time_standing_s: one lap from standstill at point 0 back to point 0 (s).
        standing_speed_mps: ``(N,)`` speed on the standing-start lap (``[0] == 0``).
        standing_time_s: ``(N,)`` time at each point on the standing-start lap.
        limit_speed_mps: ``(N,)`` the cornering cap at each point (after ``speed_scale``).
        curvature_1pm: ``(N,)`` signed curvature of the line (1/m, positive turning left).
    """

    speed_mps: np.ndarray
    time_s: np.ndarray
    lap_time_flying_s: float
    lap_time_standing_s: float
    standing_speed_mps: np.ndarray | None = None
    standing_time_s: np.ndarray | None = None
    limit_speed_mps: np.ndarray | None = None
    curvature_1pm: np.ndarray | None = None


class _Table:
    """Piecewise-linear look-up of a scalar (``np.interp`` semantics: ends held), fast for single floats."""

    __slots__ = ("xs", "ys", "n")

    def __init__(self, xs: np.ndarray, ys: np.ndarray, scale: float = 1.0) -> None:
        self.xs = [float(x) for x in xs]
        self.ys = [float(y) * scale for y in ys]
        self.n = len(self.xs)

    def __call__(self, x: float) -> float:
        xs, ys = self.xs, self.ys
        if x <= xs[0]:
            return ys[0]
        if x >= xs[-1]:
            return ys[-1]
        j = bisect_right(xs, x)
        x0, x1 = xs[j - 1], xs[j]
        return ys[j - 1] + (ys[j] - ys[j - 1]) * (x - x0) / (x1 - x0)


def _check(xy: np.ndarray, speed_scale: float) -> np.ndarray:
    arr = np.asarray(xy, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise LineError(f"speed profile: points must be an (N, 2) array, got shape {arr.shape}")
    if len(arr) < 3:
        raise LineError(f"speed profile: needs at least 3 points, got {len(arr)}")
    if not np.all(np.isfinite(arr)):
        raise LineError("speed profile: points hold non-finite values (NaN or inf)")
    if not (isinstance(speed_scale, (int, float)) and math.isfinite(speed_scale) and speed_scale > 0):
        raise LineError(f"speed profile: speed_scale must be a positive number, got {speed_scale!r}")
    return arr


def speed_profile(xy: np.ndarray, limits: CarLimits, *, speed_scale: float = 1.0,
                  friction_circle: bool = True) -> SpeedProfile:
    """The fastest speed profile of a closed line under ``limits`` (see the module docstring).

    Args:
        xy: ``(N, 2)`` points in metres, in driving order; the loop closes from the last point to the first
            (no repeated point). Segments of zero length are allowed (they take no time).
        limits: the car's measured limits.
        speed_scale: multiplies every speed cap (cornering and top speed); the lateral grip and braking
            deceleration used are scaled by ``speed_scale**2``. 1.0 = the measured limits.
        friction_circle: share the tyres' grip between cornering and braking/driving (module docstring).

    Returns:
        a :class:`SpeedProfile` (speeds in m/s, times in s). Cost: O(N) with a few Python loops over the
        points (a 600-point line takes a few milliseconds).
    """
    pts = _check(xy, speed_scale)
    n = len(pts)
    d = np.roll(pts, -1, axis=0) - pts
    ds = np.hypot(d[:, 0], d[:, 1])  # ds[i]: point i -> i+1 (the last closes the loop)
    curv = polyline_curvature(pts)
    kappa = np.abs(curv)
    cap = np.asarray(limits.max_speed_for_curvature(kappa), dtype=np.float64) * speed_scale
    grip = speed_scale * speed_scale
    accel = _Table(limits.accel_speed_mps, limits.accel_mps2)
    top = float(limits.top_speed_mps)
    brake = _Table(limits.brake_speed_mps, limits.brake_mps2, grip)
    # Lateral grip at a speed: the measured table is indexed by the car's speed; at speed_scale s the profile
    # runs the car at s times the speed where the full profile would, so look the grip up at v / s.
    lat = _Table(np.asarray(limits.lat_speed_mps) * speed_scale, limits.lat_accel_mps2, grip)
    # Segment curvature: the mean of its two ends.
    k_seg = (0.5 * (kappa + np.roll(kappa, -1))).tolist()
    ds_l = ds.tolist()

    def usable(a_straight: float, v: float, k: float) -> float:
        if not friction_circle or k == 0.0:
            return a_straight
        u = v * v * k / lat(v)
        return 0.0 if u >= 1.0 else a_straight * math.sqrt(1.0 - u * u)

    def accel_at(v: float) -> float:
        return 0.0 if v >= top else accel(v)

    # Flying lap: start at the slowest cap (its speed is final) and go round until periodic.
    i0 = int(np.argmin(cap))
    order = [(i0 + k) % n for k in range(n)]
    v = cap.tolist()
    for _ in range(_MAX_ROUNDS):
        changed = False
        # Backward (braking): from i+1 to i, around the loop ending at i0.
        for k in range(n - 1, -1, -1):
            i = order[k]
            j = i + 1 if i + 1 < n else 0
            vj = v[j]
            lim = math.sqrt(vj * vj + 2.0 * usable(brake(vj), vj, k_seg[i]) * ds_l[i])
            if lim < v[i] - 1e-12:
                v[i] = lim
                changed = True
        # Forward (acceleration): from i to i+1, around the loop from i0.
        for k in range(n):
            i = order[k]
            j = i + 1 if i + 1 < n else 0
            vi = v[i]
            lim = math.sqrt(vi * vi + 2.0 * usable(accel_at(vi), vi, k_seg[i]) * ds_l[i])
            if lim < v[j] - 1e-12:
                v[j] = lim
                changed = True
        if not changed:
            break
    speed = np.array(v)
    nxt = np.roll(speed, -1)
    dt = 2.0 * ds / np.maximum(speed + nxt, 1e-12)
    time_s = np.concatenate([[0.0], np.cumsum(dt)[:-1]])
    lap_flying = float(dt.sum())

    # Standing start: from rest at point 0, capped by the flying profile, back to point 0.
    vs = [0.0] * (n + 1)
    for i in range(n):
        vi = vs[i]
        cap_j = v[i + 1] if i + 1 < n else v[0]
        vs[i + 1] = min(cap_j, math.sqrt(vi * vi + 2.0 * usable(accel_at(vi), vi, k_seg[i]) * ds_l[i]))
    vs_arr = np.array(vs)
    dts = 2.0 * ds / np.maximum(vs_arr[:-1] + vs_arr[1:], 1e-12)
    standing_time = np.concatenate([[0.0], np.cumsum(dts)[:-1]])
    return SpeedProfile(speed_mps=speed, time_s=time_s, lap_time_flying_s=lap_flying,
                        lap_time_standing_s=float(dts.sum()), standing_speed_mps=vs_arr[:-1],
                        standing_time_s=standing_time, limit_speed_mps=cap, curvature_1pm=curv)
