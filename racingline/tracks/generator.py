"""Making tracks: DeepRacer-format arrays from centerlines, and the project's own example shapes.

``python -m racingline.tracks.generator tracks/`` regenerates the project's tracks in ``tracks/``.
:func:`generate_track` makes procedural DeepRacer-like tracks, deterministic per seed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from racingline.tracks.files import TrackError, save_track_array, track_from_array

__all__ = [
    "track_array_from_centerline",
    "resample_closed",
    "rounded_rectangle",
    "kidney",
    "s_bend",
    "PROJECT_SHAPES",
    "write_project_tracks",
    "generate_track",
    "generation_min_radius_m",
    "GEN_LENGTH_RANGE_M",
    "GEN_LENGTH_LIMITS_M",
    "GEN_WIDTH_LIMITS_M",
    "MIN_RADIUS_M",
    "CLEARANCE_M",
]

#: Waypoint spacing of published DeepRacer tracks, metres.
WAYPOINT_SPACING_M = 0.30
#: Width of most DeepRacer tracks, metres.
DEEPRACER_WIDTH_M = 1.07


def resample_closed(points: np.ndarray, spacing_m: float = WAYPOINT_SPACING_M) -> np.ndarray:
    """Resample a closed polyline ``(M, 2)`` (no repeated end point) to even arc-length spacing.

    Returns ``(N, 2)``, N = round(length / spacing), starting at ``points[0]``.
    """
    pts = np.asarray(points, dtype=np.float64)
    closed = np.vstack([pts, pts[:1]])
    seg = np.hypot(*np.diff(closed, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    n = max(int(round(s[-1] / spacing_m)), 3)
    targets = np.linspace(0.0, s[-1], n, endpoint=False)
    return np.stack([np.interp(targets, s, closed[:, 0]), np.interp(targets, s, closed[:, 1])], axis=1)


def track_array_from_centerline(center: np.ndarray, width_m: float | np.ndarray = DEEPRACER_WIDTH_M) -> np.ndarray:
    """Build a DeepRacer ``(N+1, 6)`` array (closing row included) from a closed centerline ``(N, 2)``.

    The inside border is the one toward the loop's interior, whichever way the loop runs.
    """
    c = np.asarray(center, dtype=np.float64)
    tangent = np.roll(c, -1, axis=0) - np.roll(c, 1, axis=0)
    tangent /= np.maximum(np.hypot(*tangent.T), 1e-12)[:, None]
    left = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    x, y = c[:, 0], c[:, 1]
    signed_area = 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))
    inward = left if signed_area > 0 else -left  # counter-clockwise loops have their interior on the left
    half = 0.5 * np.broadcast_to(np.asarray(width_m, dtype=np.float64), (len(c),))[:, None]
    arr = np.hstack([c, c + inward * half, c - inward * half])
    return np.vstack([arr, arr[:1]])


def _polar(r_of_theta: Callable[[np.ndarray], np.ndarray], n: int = 2000) -> np.ndarray:
    theta = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    r = r_of_theta(theta)
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)


def rounded_rectangle(length_m: float = 14.0, height_m: float = 7.0, corner_radius_m: float = 2.0) -> np.ndarray:
    """Centerline of a rounded rectangle (counter-clockwise), start in the middle of the bottom straight."""
    hx, hy, r = length_m / 2 - corner_radius_m, height_m / 2 - corner_radius_m, corner_radius_m
    pts = []
    corners = [(hx, -hy, -np.pi / 2), (hx, hy, 0.0), (-hx, hy, np.pi / 2), (-hx, -hy, np.pi)]
    pts.append(np.array([[0.0, -hy - r]]))
    for cx, cy, a0 in corners:
        a = np.linspace(a0, a0 + np.pi / 2, 60)
        pts.append(np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], axis=1))
    return resample_closed(np.vstack(pts))


def kidney(scale_m: float = 5.5) -> np.ndarray:
    """Centerline of a kidney (bean) shape: one concave side, counter-clockwise."""
    pts = _polar(lambda t: scale_m * (1.0 + 0.28 * np.cos(2 * t) - 0.22 * np.sin(t)))
    pts = pts[np.argmin(pts[:, 1]) :].tolist() + pts[: np.argmin(pts[:, 1])].tolist()
    return resample_closed(np.asarray(pts))


def s_bend(scale_m: float = 6.0) -> np.ndarray:
    """Centerline of a three-lobed loop whose lobes are joined by S-bends, counter-clockwise."""
    return resample_closed(_polar(lambda t: scale_m * (1.0 + 0.16 * np.sin(3 * t))))


#: name -> centerline function of the tracks shipped in ``tracks/``.
PROJECT_SHAPES: dict[str, Callable[[], np.ndarray]] = {
    "rounded_rectangle": rounded_rectangle,
    "kidney": kidney,
    "s_bend": s_bend,
}


def write_project_tracks(dest: str | Path) -> list[Path]:
    """Write every shape of :data:`PROJECT_SHAPES` to ``dest/<name>.npy`` (validated, atomic)."""
    out = []
    for name, fn in PROJECT_SHAPES.items():
        arr = track_array_from_centerline(fn())
        track_from_array(arr, name=name)  # validate before writing
        out.append(save_track_array(arr, Path(dest) / f"{name}.npy"))
    return out


#: Range the length of a generated track is drawn from when not given, metres.
GEN_LENGTH_RANGE_M = (17.0, 70.0)
#: Lengths ``generate_track`` accepts, metres (published tracks run ~17-100 m).
GEN_LENGTH_LIMITS_M = (15.0, 100.0)
#: Road widths ``generate_track`` accepts, metres (published tracks run 0.6-2.0 m).
GEN_WIDTH_LIMITS_M = (0.6, 2.0)
#: Smallest centerline radius of curvature of a generated track, metres (the 2022 tracks' tightest
#: corners have radii of 0.4-0.6 m, so generated tracks must reach that to prepare an agent for them).
MIN_RADIUS_M = 0.5
#: Smallest gap between road edges of two parts of a generated track that are not neighbours, metres.
CLEARANCE_M = 0.4
_GEN_HARMONICS = np.arange(2, 12)
_GEN_MAX_TRIES = 400


def generation_min_radius_m(width_m: float) -> float:
    """Smallest centerline radius of curvature a generated track of road width ``width_m`` may have.

    At least :data:`MIN_RADIUS_M`, and at least half the road width so the inside edge never folds.
    """
    return max(MIN_RADIUS_M, 0.5 * float(width_m) + 0.02)


def _random_loop(rng: np.random.Generator, roughness: float, n: int = 1024) -> np.ndarray:
    """A smooth star-shaped closed curve ``(n, 2)``, counter-clockwise, of arbitrary size.

    Polar radius ``1 + sum_k a_k cos(k theta + phi_k)`` (kept positive, so the curve is simple), then
    stretched along one axis and rotated; a linear map keeps a simple curve simple.
    """
    theta = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    k = _GEN_HARMONICS
    amp = rng.uniform(0.0, 1.0, len(k)) / k**1.0
    phase = rng.uniform(0.0, 2.0 * np.pi, len(k))
    amp *= roughness * rng.uniform(0.35, 0.9) / max(float(amp.sum()), 1e-9)
    r = 1.0 + np.sum(amp[:, None] * np.cos(k[:, None] * theta[None, :] + phase[:, None]), axis=0)
    pts = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    stretch = 1.0 + roughness * rng.uniform(0.0, 1.0)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (pts * np.array([stretch, 1.0])) @ rot.T


def _discrete_curvature(center: np.ndarray) -> np.ndarray:
    """Signed curvature ``(N,)`` of a closed polyline, computed as :class:`racingline.tracks.files.Track` does."""
    seg = np.roll(center, -1, axis=0) - center
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    headings = np.arctan2(seg[:, 1], seg[:, 0])
    turn = (headings - np.roll(headings, 1) + np.pi) % (2.0 * np.pi) - np.pi
    return turn / np.maximum(0.5 * (seg_len + np.roll(seg_len, 1)), 1e-9)


def _has_clearance(center: np.ndarray, width_m: float, min_radius_m: float) -> bool:
    """True when parts of the loop that are not neighbours along it keep their roads apart."""
    seg_len = np.hypot(*(np.roll(center, -1, axis=0) - center).T)
    s = np.concatenate([[0.0], np.cumsum(seg_len)[:-1]])
    total = float(seg_len.sum())
    ds = np.abs(s[:, None] - s[None, :])
    arc = np.minimum(ds, total - ds)
    dist = np.hypot(center[:, None, 0] - center[None, :, 0], center[:, None, 1] - center[None, :, 1])
    far_along = arc > np.pi * min_radius_m + width_m
    return bool(np.all(dist[far_along] >= width_m + CLEARANCE_M))


def _check_range(label: str, value: float, limits: tuple[float, float]) -> float:
    value = float(value)
    if not (np.isfinite(value) and limits[0] <= value <= limits[1]):
        raise TrackError(f"{label}={value:g}: must be between {limits[0]:g} and {limits[1]:g} m")
    return value


def generate_track(seed: int, length_m: float | None = None, width_m: float | None = None) -> np.ndarray:
    """A procedural closed DeepRacer-like track as a ``(N+1, 6)`` array (closing row included).

    The centerline is smooth and simple (never crosses itself), counter-clockwise, sampled every
    ~0.3 m like published tracks; its radius of curvature never falls below
    :func:`generation_min_radius_m`, and parts of the loop that are not neighbours keep at least
    :data:`CLEARANCE_M` between their road edges. The start (waypoint 0) is put on the straightest
    stretch. The same ``seed``, ``length_m`` and ``width_m`` always give the same array.

    Args:
        seed: non-negative integer seed.
        length_m: centerline length in metres, within :data:`GEN_LENGTH_LIMITS_M`; drawn from
            :data:`GEN_LENGTH_RANGE_M` when ``None``.
        width_m: road width in metres, within :data:`GEN_WIDTH_LIMITS_M`; 1.07 m when ``None``.

    Raises:
        TrackError: an argument is out of range, or no drivable loop was found for this seed.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TrackError(f"seed={seed!r}: must be a non-negative integer")
    width = _check_range("width_m", DEEPRACER_WIDTH_M if width_m is None else width_m, GEN_WIDTH_LIMITS_M)
    if length_m is not None:
        length_m = _check_range("length_m", length_m, GEN_LENGTH_LIMITS_M)
    rng = np.random.default_rng(int(seed))
    length = float(rng.uniform(*GEN_LENGTH_RANGE_M)) if length_m is None else length_m
    min_radius = generation_min_radius_m(width)
    roughness = 1.0
    for _ in range(_GEN_MAX_TRIES):
        dense = _random_loop(rng, roughness)
        roughness *= 0.97
        n = max(int(round(length / WAYPOINT_SPACING_M)), 20)
        center = resample_closed(dense, spacing_m=_closed_length(dense) / n)[:n]
        center *= length / _closed_length(center)
        curvature = _discrete_curvature(center)
        if np.max(np.abs(curvature)) > 1.0 / min_radius:
            continue
        if not _has_clearance(center, width, min_radius):
            continue
        # Start on the straightest stretch: least curvature summed over the next ~2 m.
        window = max(int(round(2.0 / WAYPOINT_SPACING_M)), 1)
        bend = np.convolve(np.tile(np.abs(curvature), 2), np.ones(window), mode="valid")[: len(center)]
        center = np.roll(center, -int(np.argmin(bend)), axis=0)
        center -= center.mean(axis=0)
        arr = track_array_from_centerline(center, width)
        track_from_array(arr, name=f"generated_{seed}")  # raises if anything slipped through
        return arr
    raise TrackError(f"seed={seed}: no drivable loop of length {length:g} m and width {width:g} m was found")


def _closed_length(points: np.ndarray) -> float:
    return float(np.hypot(*(np.roll(points, -1, axis=0) - points).T).sum())


if __name__ == "__main__":
    for p in write_project_tracks(sys.argv[1] if len(sys.argv) > 1 else "tracks"):
        print(p)
