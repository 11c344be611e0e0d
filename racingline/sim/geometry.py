"""Track geometry in simulator units: road tiles, a dense centerline, and projection onto it.

Simulator units ("sim units") are CarRacing's Box2D units. A track in metres becomes
``sim = (xy_m - origin_m) * track_scale``; the road is ``width_m * track_scale * track_width_scale``
sim units wide (the tutorial's scale 25 and width scale 0.5 give CarRacing's own road width for a
1.07 m DeepRacer track).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from racingline.tracks.files import Track

__all__ = ["SimTrack", "build_sim_track", "TILE_STEP", "DENSE_STEP"]

#: Road tile length in sim units (CarRacing's TRACK_DETAIL_STEP).
TILE_STEP = 21.0 / 6.0
#: Spacing of the dense centerline used for projection, sim units.
DENSE_STEP = 1.0
#: CarRacing's kerb rule: a tile is on a hard turn when the heading changes by more than this per tile.
KERB_TURN_RATE = 0.31 * 0.2
KERB_MIN_COUNT = 4


@dataclass(frozen=True, eq=False)
class SimTrack:
    """A :class:`Track` placed in the simulator.

    Attributes:
        track: the source track (metres).
        origin_m: ``(2,)`` metre coordinates of the sim origin (the track's bounding-box centre).
        scale: sim units per metre.
        tiles: ``(T, 4)`` rows ``(alpha, beta, x, y)`` in CarRacing's ``env.track`` format: tile centre
            point (x, y) and ``beta``, the car angle that faces along the track there.
        tile_polys: ``(T, 4, 2)`` road quadrilaterals, tile i joins tile points i-1 and i.
        kerb_polys: list of ``(quad (4, 2), is_white)`` kerb stripes on hard turns.
        dense_xy: ``(M, 2)`` centerline resampled every ``ds`` sim units (start at index 0).
        dense_tangent: ``(M, 2)`` unit tangents; dense_half_width: ``(M,)`` road half-width (sim units).
        ds: dense spacing (sim units); length: centerline length (sim units).
        extent: largest absolute sim coordinate of the road.
        waypoint_dense_index: ``(N,)`` dense index of each track waypoint.
    """

    track: Track
    origin_m: np.ndarray
    scale: float
    tiles: np.ndarray
    tile_polys: np.ndarray
    kerb_polys: list
    dense_xy: np.ndarray
    dense_tangent: np.ndarray
    dense_half_width: np.ndarray
    ds: float
    length: float
    extent: float
    waypoint_dense_index: np.ndarray

    def to_metres(self, xy_sim: np.ndarray) -> np.ndarray:
        """Sim coordinates -> the track file's own metre coordinates."""
        return np.asarray(xy_sim) / self.scale + self.origin_m

    @cached_property
    def dense_x(self) -> np.ndarray:
        """``dense_xy[:, 0]``, contiguous (nearest-point searches read it every physics step)."""
        return np.ascontiguousarray(self.dense_xy[:, 0])

    @cached_property
    def dense_y(self) -> np.ndarray:
        """``dense_xy[:, 1]``, contiguous."""
        return np.ascontiguousarray(self.dense_xy[:, 1])

    @cached_property
    def _waypoint_lookup(self) -> tuple[list[int], dict[int, int]]:
        first: dict[int, int] = {}
        for k, v in enumerate(self.waypoint_dense_index.tolist()):
            first.setdefault(v, k)
        return sorted(first), first

    def closest_waypoint(self, dense_index: int) -> int:
        """Index of the waypoint nearest (along the loop) to dense point ``dense_index``; ties: the lowest.

        The same as ``argmin(|circular(waypoint_dense_index - dense_index)|)``, from the two waypoints
        either side instead of all of them.
        """
        values, first = self._waypoint_lookup
        m = len(self.dense_xy)
        h = m // 2
        j = bisect_left(values, dense_index)
        d = min(abs((v - dense_index + h) % m - h) for v in (values[j % len(values)], values[j - 1]))
        return min(first[v] for v in ((dense_index - d) % m, (dense_index + d) % m) if v in first)


def _resample(center: np.ndarray, values: np.ndarray, arc: np.ndarray, length: float, n: int):
    s = np.linspace(0.0, length, n, endpoint=False)
    closed_arc = np.concatenate([arc, [length]])
    cx = np.interp(s, closed_arc, np.concatenate([center[:, 0], center[:1, 0]]))
    cy = np.interp(s, closed_arc, np.concatenate([center[:, 1], center[:1, 1]]))
    v = np.interp(s, closed_arc, np.concatenate([values, values[:1]]))
    return np.stack([cx, cy], axis=1), v, s


def _smooth_closed(xy: np.ndarray, passes: int) -> np.ndarray:
    out = xy
    for _ in range(passes):
        out = 0.25 * np.roll(out, 1, axis=0) + 0.5 * out + 0.25 * np.roll(out, -1, axis=0)
    return out


def build_sim_track(track: Track, *, track_scale: float = 25.0, track_width_scale: float = 0.5,
                    origin_m: np.ndarray | None = None) -> SimTrack:
    """Place ``track`` in the simulator: tiles, kerbs and a dense centerline, in sim units."""
    center_m = track.center
    if origin_m is None:
        origin_m = 0.5 * (center_m.min(axis=0) + center_m.max(axis=0))
    origin_m = np.asarray(origin_m, dtype=np.float64)
    center = (center_m - origin_m) * track_scale
    half_w = 0.5 * track.widths_m * track_scale * track_width_scale
    arc = track.arc_m * track_scale
    length = track.length_m * track_scale

    # Road tiles at CarRacing's spacing, on a lightly smoothed centerline so tile edges are clean.
    n_tiles = max(int(round(length / TILE_STEP)), 12)
    pts, hw, _ = _resample(center, half_w, arc, length, n_tiles)
    pts = _smooth_closed(pts, 2)
    tangent = np.roll(pts, -1, axis=0) - np.roll(pts, 1, axis=0)
    heading = np.arctan2(tangent[:, 1], tangent[:, 0])
    beta = np.unwrap(heading - math.pi / 2)  # car angle facing along the track
    alpha = np.arctan2(pts[:, 1], pts[:, 0])
    tiles = np.stack([alpha, beta, pts[:, 0], pts[:, 1]], axis=1)
    perp = np.stack([np.cos(beta), np.sin(beta)], axis=1)  # points to the right of travel
    left = pts - perp * hw[:, None]
    right = pts + perp * hw[:, None]
    prev = np.roll(np.arange(n_tiles), 1)
    tile_polys = np.stack([left, right, right[prev], left[prev]], axis=1)

    # Kerbs: CarRacing's rule on consecutive heading changes.
    dbeta = np.diff(np.concatenate([beta[-1:] - 2 * math.pi * round((beta[-1] - beta[0]) / (2 * math.pi)), beta]))
    # A tile starts a kerb when the last KERB_MIN_COUNT heading changes all exceed the rate, one way;
    # it and the KERB_MIN_COUNT - 1 tiles before it are marked.
    window = np.stack([np.roll(dbeta, k) for k in range(KERB_MIN_COUNT)])  # window[k, i] = dbeta[i - k]
    kerb = (np.abs(window) > KERB_TURN_RATE).all(axis=0) & (np.abs(np.sign(window).sum(axis=0)) == KERB_MIN_COUNT)
    marked = kerb.copy()
    for k in range(1, KERB_MIN_COUNT):
        marked |= np.roll(kerb, -k)
    border = 8.0 / 6.0
    ki = np.flatnonzero(marked)
    kj = prev[ki]
    side = np.where(dbeta[ki] != 0, -np.sign(dbeta[ki]), 1.0)[:, None]
    a1 = pts[ki] + side * perp[ki] * hw[ki, None]
    b1 = pts[ki] + side * perp[ki] * (hw[ki] + border)[:, None]
    a2 = pts[kj] + side * perp[kj] * hw[kj, None]
    b2 = pts[kj] + side * perp[kj] * (hw[kj] + border)[:, None]
    quads = np.stack([a1, b1, b2, a2], axis=1)
    kerb_polys = [(quads[k], bool(i % 2 == 0)) for k, i in enumerate(ki.tolist())]

    # Dense centerline for projection and look-ahead (exact original geometry, no smoothing).
    n_dense = max(int(round(length / DENSE_STEP)), 64)
    dense_xy, dense_hw, _ = _resample(center, half_w, arc, length, n_dense)
    dt = np.roll(dense_xy, -1, axis=0) - np.roll(dense_xy, 1, axis=0)
    dense_tangent = dt / np.maximum(np.hypot(dt[:, 0], dt[:, 1]), 1e-12)[:, None]
    ds = length / n_dense
    wp_index = np.round(arc / ds).astype(np.int64) % n_dense
    extent = float(np.abs(np.concatenate([left, right])).max())
    for arr in (tiles, tile_polys, dense_xy, dense_tangent, dense_hw, wp_index):
        arr.setflags(write=False)
    return SimTrack(track=track, origin_m=origin_m, scale=track_scale, tiles=tiles, tile_polys=tile_polys,
                    kerb_polys=kerb_polys, dense_xy=dense_xy, dense_tangent=dense_tangent,
                    dense_half_width=dense_hw, ds=ds, length=length, extent=extent,
                    waypoint_dense_index=wp_index)
