"""Making tracks: DeepRacer-format arrays from centerlines, and the project's own example shapes.

``python -m racingline.trackgen tracks/`` regenerates the project's tracks in ``tracks/``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from racingline.tracks import save_track_array, track_from_array

__all__ = [
    "track_array_from_centerline",
    "resample_closed",
    "rounded_rectangle",
    "kidney",
    "s_bend",
    "PROJECT_SHAPES",
    "write_project_tracks",
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


if __name__ == "__main__":
    for p in write_project_tracks(sys.argv[1] if len(sys.argv) > 1 else "tracks"):
        print(p)
