"""The band a racing line may use: the road the simulator builds, less the car's half-width and a margin.

The road is exactly what :func:`racingline.sim.geometry.build_sim_track` builds for the env (its
``track_scale`` and ``track_width_scale`` are :data:`racingline.sim.env.TRACK_SCALE` and
:data:`~racingline.sim.env.TRACK_WIDTH_SCALE`): a chain of quadrilateral road tiles whose edges are
``tile_point -/+ half_width * right_normal`` at the tile points (CarRacing's spacing, 0.14 m, on a lightly
smoothed centerline), with ``half_width = 0.5 * TRACK_WIDTH_SCALE * track.widths_m`` interpolated along
the track, i.e. a quarter of the DeepRacer width (0.2675 m for a 1.07 m track). A wheel is on the road
when it touches a tile, so the band is built from the tile edges, converted back to the track file's metres:

- a *station* is a cross segment ``R(t) -> L(t)`` between the right and left road edges, both interpolated
  linearly between two tile points (``t`` in ``[0, 1]``): it lies inside that tile, whatever ``t``;
- the band's centre at a station is the middle of the cross segment, its normal the unit vector from
  the right edge to the left edge (a LEFT normal, close to perpendicular to the smoothed tangent), and the
  allowed lateral offsets are ``-/+ (|L - R| / 2 - HALF_WIDTH_M - margin_m)``.

A line point ``center + alpha * normal`` with ``lo <= alpha <= hi`` keeps the whole car at least
``margin_m`` inside the road edge, measured along the station. :func:`line_clearance_m` measures any
polyline the same way (it finds, for each point, the station through it), so a point put at ``hi`` by an
optimiser measures a clearance of 0 (to rounding).
"""

from __future__ import annotations

import math

import numpy as np

from racingline.lines.line import LineError
from racingline.tracks.files import Track

__all__ = ["HALF_WIDTH_M", "band", "line_clearance_m", "road_edges_m", "widest_margin_m", "station_offsets",
           "band_from_edges", "check_margin", "station_count"]

#: Half the car's width, metres: gymnasium's ``car_dynamics`` puts the wheels at x = +-55 with a
#: half-width ``WHEEL_W`` = 14, in units of ``SIZE`` = 0.02 sim units, so the car spans +-69 * 0.02 =
#: +-1.38 sim units, i.e. +-0.0552 m at the env's 25 sim units per metre (the hull, +-60, is narrower).
HALF_WIDTH_M = 0.0552


def road_edges_m(track: Track) -> tuple[np.ndarray, np.ndarray]:
    """Left and right road edges ``(T, 2)`` at the simulator's tile points, in the track file's metres.

    Tile ``i`` of the simulated road is the quadrilateral ``left[i-1], left[i], right[i], right[i-1]``.
    """
    from racingline.sim.env import TRACK_SCALE, TRACK_WIDTH_SCALE
    from racingline.sim.geometry import build_sim_track

    sim = build_sim_track(track, track_scale=TRACK_SCALE, track_width_scale=TRACK_WIDTH_SCALE)
    left = sim.to_metres(sim.tile_polys[:, 0])  # build_sim_track: [left_i, right_i, right_{i-1}, left_{i-1}]
    right = sim.to_metres(sim.tile_polys[:, 1])
    return left, right


def widest_margin_m(track: Track) -> float:
    """The widest margin that leaves a band everywhere: the narrowest road half-width less :data:`HALF_WIDTH_M`."""
    left, right = road_edges_m(track)
    return _widest_margin(left, right)


def _widest_margin(left: np.ndarray, right: np.ndarray) -> float:
    return float(0.5 * np.hypot(*(left - right).T).min() - HALF_WIDTH_M)


def check_margin(track: Track, margin_m: float, left: np.ndarray, right: np.ndarray) -> None:
    """Raise :class:`LineError` unless ``margin_m`` leaves a band on ``track`` (road edges ``left``, ``right``)."""
    widest = _widest_margin(left, right)
    if not (isinstance(margin_m, (int, float, np.floating, np.integer)) and math.isfinite(margin_m)) or margin_m < 0:
        raise LineError(f"margin_m={margin_m!r}: must be a finite number >= 0 "
                        f"(track {track.name}: at most {widest:.4f} m)")
    if margin_m > widest:
        raise LineError(
            f"margin_m={margin_m:g} leaves no band on track {track.name}: the narrowest simulated road is "
            f"{2 * (widest + HALF_WIDTH_M):.4f} m wide and the car {2 * HALF_WIDTH_M:.4f} m, "
            f"so the widest allowed margin is {widest:.4f} m")


def _closed_arc(points: np.ndarray) -> tuple[np.ndarray, float]:
    seg = np.hypot(*(np.roll(points, -1, axis=0) - points).T)
    return np.concatenate([[0.0], np.cumsum(seg)]), float(seg.sum())


def _stations(left: np.ndarray, right: np.ndarray, n: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cross segments: centre ``(N, 2)``, unit left normal ``(N, 2)``, half-width ``(N,)`` (metres).

    ``n=None``: at the tile points; otherwise ``n`` stations evenly spaced along the centre polyline, each
    with its edges interpolated linearly between two tile points (the same ``t`` for both edges, so the
    centre stays on the centre polyline and the cross segment inside the tile).
    """
    if n is not None:
        mid = 0.5 * (left + right)
        arc, length = _closed_arc(mid)
        s = np.linspace(0.0, length, n, endpoint=False)
        i = np.clip(np.searchsorted(arc, s, side="right") - 1, 0, len(mid) - 1)
        seg = arc[i + 1] - arc[i]
        t = np.where(seg > 0, (s - arc[i]) / np.maximum(seg, 1e-300), 0.0)[:, None]
        j = (i + 1) % len(mid)
        left = (1 - t) * left[i] + t * left[j]
        right = (1 - t) * right[i] + t * right[j]
    across = left - right
    width = np.hypot(across[:, 0], across[:, 1])
    return 0.5 * (left + right), across / np.maximum(width, 1e-12)[:, None], 0.5 * width


def band(track: Track, margin_m: float, *, spacing_m: float | None = None
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The drivable band of ``track`` for a car that keeps ``margin_m`` inside the simulated road.

    Args:
        track: the track, in the direction it will be driven (``track.reversed()`` for the other way).
        margin_m: metres kept between the car's side and the road edge (>= 0).
        spacing_m: ``None``: one station per simulator road tile (0.14 m apart); otherwise stations
            resampled evenly, about ``spacing_m`` apart along the centre.

    Returns:
        ``(center (N, 2), normal (N, 2), lo (N,), hi (N,))``: station centres (the simulated road's
        centerline, metres), unit LEFT normals, and the lateral offsets allowed along them
        (``lo = -hi <= 0 <= hi``, metres; ``hi`` is 0 where the margin takes the whole road). Station 0 is
        the simulator's first tile point, within millimetres of the track's waypoint 0.

    Raises:
        LineError: ``margin_m`` is negative, not finite, or so wide that the band vanishes somewhere;
            the message names the track and the widest allowed margin.
    """
    left, right = road_edges_m(track)
    check_margin(track, margin_m, left, right)
    n = None
    if spacing_m is not None:
        if not (isinstance(spacing_m, (int, float)) and math.isfinite(spacing_m) and spacing_m > 0):
            raise LineError(f"spacing_m={spacing_m!r}: must be a positive number")
        n = station_count(left, right, spacing_m)
    return band_from_edges(left, right, margin_m, n)


def station_count(left: np.ndarray, right: np.ndarray, spacing_m: float) -> int:
    """How many stations put about ``spacing_m`` between neighbours along the road's centre (at least 12)."""
    return max(int(round(_closed_arc(0.5 * (left + right))[1] / spacing_m)), 12)


def band_from_edges(left: np.ndarray, right: np.ndarray, margin_m: float, n: int | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`band` from road edges (:func:`road_edges_m`): ``n`` stations evenly spaced along the road's
    centre, or one per tile point when ``None``. The margin is not checked (:func:`check_margin`)."""
    center, normal, half = _stations(left, right, n)
    hi = np.maximum(half - HALF_WIDTH_M - margin_m, 0.0)
    return center, normal, -hi, hi


def station_offsets(track: Track, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each point of ``xy`` lies on the simulated road: its lateral offset and the road half-width there.

    For each point, the station (cross segment between the road edges, see the module docs) through it
    is found in every tile; of the tiles that have one, the one giving the smallest offset is kept (the
    tile the point is in, when it is on the road). Returns ``(offset (M,), half_width (M,))`` in metres,
    offset positive to the left of the road's centre.
    """
    left, right = road_edges_m(track)
    return _station_offsets(left, right, np.asarray(xy, dtype=np.float64).reshape(-1, 2))


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _station_offsets(left: np.ndarray, right: np.ndarray, xy: np.ndarray, chunk: int = 256):
    r0, w0 = right, left - right
    dr = np.roll(right, -1, axis=0) - right
    dw = np.roll(w0, -1, axis=0) - w0
    offsets = np.empty(len(xy))
    halves = np.empty(len(xy))
    for start in range(0, len(xy), chunk):
        p = xy[start:start + chunk, None, :]  # (m, 1, 2) against every tile (T,)
        q = p - r0
        # The station through p in tile i: cross(W(t), q - t dR) = 0 with W(t) = w0 + t dw: a quadratic in t.
        a = -_cross(dw, dr) * np.ones(q.shape[:2])
        b = _cross(dw, q) - _cross(w0, dr)
        c = _cross(w0, q)
        disc = b * b - 4 * a * c
        sq = np.sqrt(np.maximum(disc, 0.0))
        qq = -0.5 * (b + np.where(b >= 0, sq, -sq))
        small = np.abs(a) <= 1e-12 * (np.abs(b) + 1e-300)
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = np.where(small, -c / b, qq / a)
            t2 = np.where(small, np.nan, c / qq)
        best_off = np.full(q.shape[:2], np.inf)
        best_half = np.zeros(q.shape[:2])
        for t in (t1, t2):
            ok = (disc >= 0) & np.isfinite(t) & (t >= -1e-9) & (t <= 1 + 1e-9)
            t = np.clip(np.where(ok, t, 0.0), 0.0, 1.0)[..., None]
            w = w0 + t * dw
            wl = np.maximum(np.hypot(w[..., 0], w[..., 1]), 1e-12)
            u = np.sum((q - t * dr) * w, axis=-1) / (wl * wl)
            off = np.where(ok, (u - 0.5) * wl, np.inf)
            better = np.abs(off) < np.abs(best_off)
            best_off = np.where(better, off, best_off)
            best_half = np.where(better, 0.5 * wl, best_half)
        k = np.argmin(np.abs(best_off), axis=1)
        rows = np.arange(len(k))
        offsets[start:start + chunk] = best_off[rows, k]
        halves[start:start + chunk] = best_half[rows, k]
    return offsets, halves


def line_clearance_m(track: Track, xy: np.ndarray, margin_m: float) -> float:
    """Smallest clearance of the points ``xy`` ``(M, 2)`` (metres) inside the band of ``margin_m``.

    For each point: the road half-width at its station, less :data:`HALF_WIDTH_M`, ``margin_m`` and the
    point's distance from the road's centre along that station (see :func:`station_offsets`). Zero on the
    band's edge, negative outside it (``-margin_m`` where the car's side touches the road edge); a point
    no station passes through counts as ``-inf``.
    """
    offsets, halves = station_offsets(track, xy)
    clearance = halves - HALF_WIDTH_M - float(margin_m) - np.abs(offsets)
    return float(np.min(clearance)) if len(clearance) else math.inf
