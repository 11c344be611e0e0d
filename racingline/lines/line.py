"""RacingLine: a closed line around a track, in the track file's metres, with its speed profile.

A line file (``.npz``, written atomically) holds the points, the speed profile when one was computed, and
what the line was made from (track, direction, method, margin). :func:`load_line` validates it: a NaN,
a wrong shape, too few points or an open line is a :class:`LineError` naming the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from racingline.choices import LINE_ORIGINS
from racingline.errors import RacinglineError
from racingline.io import atomic_path

__all__ = ["RacingLine", "LineError", "save_line", "load_line", "LINE_METHODS"]

#: How a line was made: the track's centerline, an optimiser (racingline.lines.optimize), or a driven lap.
LINE_METHODS = LINE_ORIGINS
#: Fewest points a line may have.
MIN_POINTS = 10
#: Largest gap between consecutive points, metres (a line is a resampled, closed polyline).
MAX_GAP_M = 2.0


class LineError(RacinglineError, ValueError):
    """A racing line (file) that cannot be used; the message names the input and the problem."""


@dataclass(frozen=True, eq=False)
class RacingLine:
    """A closed racing line.

    Attributes:
        xy: ``(N, 2)`` points in the track file's metres, in driving order; the loop closes from the last
            point to the first (no repeated point).
        track_name: the track it was made for; reverse: made for the track driven the other way.
        method: one of :data:`LINE_METHODS`; margin_m: the margin it keeps inside the drivable road.
        speed_mps: ``(N,)`` speed profile (m/s) or ``None``.
        meta: anything else worth keeping (lap-time estimates, solver statistics), JSON-serialisable.
    Derived:
        seg_m: ``(N,)`` length of the segment from point i to i+1; s_m: ``(N,)`` arc length at point i;
        length_m: loop length; curvature_1pm: ``(N,)`` signed curvature (1/m, positive turning left).
    """

    xy: np.ndarray
    track_name: str
    method: str
    margin_m: float = 0.0
    reverse: bool = False
    speed_mps: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xy = np.array(self.xy, dtype=np.float64, copy=True)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise LineError(f"line: points must be an (N, 2) array, got shape {xy.shape}")
        if len(xy) < MIN_POINTS:
            raise LineError(f"line: needs at least {MIN_POINTS} points, got {len(xy)}")
        if not np.all(np.isfinite(xy)):
            raise LineError("line: holds non-finite values (NaN or inf)")
        xy.setflags(write=False)
        object.__setattr__(self, "xy", xy)
        if self.speed_mps is not None:
            v = np.array(self.speed_mps, dtype=np.float64, copy=True)
            if v.shape != (len(xy),) or not np.all(np.isfinite(v)) or (v <= 0).any():
                raise LineError(f"line: speed profile must be {len(xy)} positive finite values")
            v.setflags(write=False)
            object.__setattr__(self, "speed_mps", v)

    @property
    def seg_m(self) -> np.ndarray:
        d = np.roll(self.xy, -1, axis=0) - self.xy
        return np.hypot(d[:, 0], d[:, 1])

    @property
    def s_m(self) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(self.seg_m)[:-1]])

    @property
    def length_m(self) -> float:
        return float(self.seg_m.sum())

    @property
    def curvature_1pm(self) -> np.ndarray:
        return polyline_curvature(self.xy)

    @property
    def time_s(self) -> np.ndarray | None:
        """``(N,)`` time at each point from point 0 with the speed profile (trapezoidal), or ``None``."""
        if self.speed_mps is None:
            return None
        v = self.speed_mps
        dt = 2.0 * self.seg_m / (v + np.roll(v, -1))
        return np.concatenate([[0.0], np.cumsum(dt)[:-1]])

    def with_speed(self, speed_mps: np.ndarray, **meta: Any) -> RacingLine:
        """This line with a speed profile (and more metadata)."""
        return RacingLine(self.xy, self.track_name, self.method, self.margin_m, self.reverse, speed_mps,
                          {**self.meta, **meta})


def polyline_curvature(xy: np.ndarray) -> np.ndarray:
    """Signed curvature (1/m, positive turning left) at each point of a closed polyline ``(N, 2)``:
    the inverse radius of the circle through each point and its two neighbours."""
    a = np.roll(xy, 1, axis=0)
    b = xy
    c = np.roll(xy, -1, axis=0)
    ab, bc, ca = b - a, c - b, a - c
    cross = ab[:, 0] * bc[:, 1] - ab[:, 1] * bc[:, 0]
    la, lb, lc = (np.hypot(v[:, 0], v[:, 1]) for v in (ab, bc, ca))
    return 2.0 * cross / np.maximum(la * lb * lc, 1e-12)


def save_line(line: RacingLine, path: str | os.PathLike) -> Path:
    """Write ``line`` as ``.npz`` (atomically); returns the path."""
    path = Path(path)
    meta = {"track_name": line.track_name, "method": line.method, "margin_m": float(line.margin_m),
            "reverse": bool(line.reverse), "meta": line.meta, "format": "racingline-line-1"}
    arrays: dict[str, np.ndarray] = {"xy": line.xy, "info": np.array(json.dumps(meta))}
    if line.speed_mps is not None:
        arrays["speed_mps"] = line.speed_mps
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return path


def load_line(path: str | os.PathLike) -> RacingLine:
    """Read and validate a line file written by :func:`save_line`."""
    path = Path(path)
    label = str(path)
    if not path.is_file():
        raise LineError(f"{label}: no such line file")
    try:
        with np.load(path, allow_pickle=False) as data:
            xy = np.asarray(data["xy"])
            speed = np.asarray(data["speed_mps"]) if "speed_mps" in data.files else None
            info = json.loads(str(data["info"]))
    except (OSError, ValueError, KeyError, json.JSONDecodeError, EOFError) as exc:
        raise LineError(f"{label}: not a racingline line file ({type(exc).__name__})") from None
    if not isinstance(info, dict) or info.get("format") != "racingline-line-1":
        raise LineError(f"{label}: not a racingline line file (unknown format)")
    try:
        line = RacingLine(xy, str(info["track_name"]), str(info["method"]), float(info["margin_m"]),
                          bool(info["reverse"]), speed, dict(info.get("meta") or {}))
    except LineError as exc:
        raise LineError(f"{label}: {str(exc).removeprefix('line: ')}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise LineError(f"{label}: not a racingline line file ({exc})") from None
    if line.seg_m.max() > MAX_GAP_M:
        raise LineError(f"{label}: not a closed line (a gap of {line.seg_m.max():.2f} m between points)")
    return line
