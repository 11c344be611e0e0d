"""DeepRacer track files: find, load, validate, and the geometry derived from them.

A DeepRacer track file is a NumPy ``.npy`` array of shape ``(N, 6)`` in metres, one row per
waypoint: ``center_x, center_y, inside_x, inside_y, outside_x, outside_y``. The waypoints run in
the driving direction; the first row usually repeats as the last (a closed loop).

Closure rule: a centerline whose last waypoint does not coincide with its first is still accepted
when the gap is at most ``CLOSE_GAP_FACTOR`` times the median waypoint spacing (the loop is then
closed by joining the last waypoint to the first). A larger gap is rejected: such a file is an open
path, not a circuit.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from racingline.errors import RacinglineError
from racingline.resources import PROJECT_TRACKS_DIR

__all__ = [
    "Track",
    "TrackError",
    "load_track",
    "track_from_array",
    "resolve_track_path",
    "track_search_dirs",
    "tracks_cache_dir",
    "user_track_dirs",
    "save_track_array",
    "PROJECT_TRACKS_DIR",
]


#: Largest accepted gap between the last and first waypoint, in median waypoint spacings.
CLOSE_GAP_FACTOR = 3.0
#: Fewest distinct waypoints a track may have.
MIN_WAYPOINTS = 10
#: Files larger than this are not tracks (the largest published track is ~30 KB).
MAX_TRACK_FILE_BYTES = 16 * 1024 * 1024


class TrackError(RacinglineError, ValueError):
    """A track file or name that cannot be used; the message names the input and the problem."""


@dataclass(frozen=True, eq=False)
class Track:
    """A closed DeepRacer track, in metres, with geometry derived from its waypoints.

    Attributes:
        name: short name (file stem, e.g. ``"2022_may_pro"``).
        waypoints: ``(N, 3, 2)`` float64, rows ``[center, inside, outside]`` as ``(x, y)``; the loop
            is implicitly closed (the last waypoint joins the first; no repeated row).
        source: where the track came from (a path), or ``None``.
    Derived (read-only):
        center, inside, outside: ``(N, 2)`` views of ``waypoints``.
        widths_m: ``(N,)`` road width at each waypoint (inside to outside distance).
        width_m: mean road width.
        segment_lengths_m: ``(N,)`` length of the segment from waypoint i to i+1 (wrapping).
        arc_m: ``(N,)`` centerline arc length from waypoint 0 to waypoint i.
        length_m: centerline length of the closed loop.
        headings_rad: ``(N,)`` direction of the segment from waypoint i to i+1, ``atan2(dy, dx)``.
        curvature_1pm: ``(N,)`` signed curvature at waypoint i (1/m, positive turning left).
    """

    name: str
    waypoints: np.ndarray
    source: str | None = None
    center: np.ndarray = field(init=False, repr=False)
    inside: np.ndarray = field(init=False, repr=False)
    outside: np.ndarray = field(init=False, repr=False)
    widths_m: np.ndarray = field(init=False, repr=False)
    width_m: float = field(init=False)
    segment_lengths_m: np.ndarray = field(init=False, repr=False)
    arc_m: np.ndarray = field(init=False, repr=False)
    length_m: float = field(init=False)
    headings_rad: np.ndarray = field(init=False, repr=False)
    curvature_1pm: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        wp = np.array(self.waypoints, dtype=np.float64, copy=True)
        wp.setflags(write=False)
        center, inside, outside = wp[:, 0], wp[:, 1], wp[:, 2]
        seg = np.roll(center, -1, axis=0) - center
        seg_len = np.hypot(seg[:, 0], seg[:, 1])
        arc = np.concatenate([[0.0], np.cumsum(seg_len)[:-1]])
        headings = np.arctan2(seg[:, 1], seg[:, 0])
        turn = _wrap_angle(headings - np.roll(headings, 1))
        mean_len = 0.5 * (seg_len + np.roll(seg_len, 1))
        curvature = turn / np.maximum(mean_len, 1e-9)
        widths = np.hypot(*(outside - inside).T)
        values = {
            "waypoints": wp,
            "center": center,
            "inside": inside,
            "outside": outside,
            "widths_m": widths,
            "width_m": float(widths.mean()),
            "segment_lengths_m": seg_len,
            "arc_m": arc,
            "length_m": float(seg_len.sum()),
            "headings_rad": headings,
            "curvature_1pm": curvature,
        }
        for key, value in values.items():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
            object.__setattr__(self, key, value)

    @property
    def n_waypoints(self) -> int:
        """Number of distinct waypoints."""
        return int(self.waypoints.shape[0])

    def reversed(self) -> Track:
        """The same track driven the other way, starting from the same waypoint."""
        order = np.concatenate([[0], np.arange(self.n_waypoints - 1, 0, -1)])
        name = self.name[:-9] if self.name.endswith("_reversed") else f"{self.name}_reversed"
        return Track(name=name, waypoints=self.waypoints[order], source=self.source)

    def to_array(self) -> np.ndarray:
        """The DeepRacer ``(N+1, 6)`` array of this track, first row repeated as the last."""
        flat = self.waypoints.reshape(self.n_waypoints, 6)
        return np.concatenate([flat, flat[:1]], axis=0)


def _wrap_angle(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2.0 * np.pi) - np.pi


def tracks_cache_dir() -> Path:
    """Where downloaded tracks live: ``$XDG_CACHE_HOME/racingline/tracks`` (default ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "racingline" / "tracks"


def user_track_dirs() -> list[Path]:
    """The folders named in ``RACINGLINE_TRACKS`` (``os.pathsep`` separated; empty entries ignored)."""
    env = os.environ.get("RACINGLINE_TRACKS", "")
    return [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]


def track_search_dirs(*, cache: bool = True) -> list[Path]:
    """Folders searched for a track given by name, in order.

    ``./tracks``, the project's ``tracks/``, each folder in ``RACINGLINE_TRACKS`` (``os.pathsep``
    separated), then the download cache (left out with ``cache=False``). The one place that says
    where tracks are looked for.
    """
    dirs = [Path.cwd() / "tracks", PROJECT_TRACKS_DIR, *user_track_dirs()]
    if cache:
        dirs.append(tracks_cache_dir())
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def resolve_track_path(path_or_name: str | os.PathLike) -> Path:
    """Turn a path or a track name into an existing file path.

    An existing path wins; otherwise ``NAME`` or ``NAME.npy`` is looked up in
    :func:`track_search_dirs`. Raises :class:`TrackError` saying where it looked.
    """
    raw = str(path_or_name)
    path = Path(raw).expanduser()
    if path.is_file():
        return path
    if path.exists():
        raise TrackError(f"{raw}: is not a file")
    looks_like_path = os.sep in raw or (os.altsep is not None and os.altsep in raw)
    if not looks_like_path:
        fname = raw if raw.endswith(".npy") else f"{raw}.npy"
        dirs = track_search_dirs()
        for d in dirs:
            candidate = d / fname
            if candidate.is_file():
                return candidate
        where = ", ".join(str(d) for d in dirs)
        stem = fname[:-4]
        raise TrackError(
            f"{raw}: no such track file; looked in {where}. "
            f"Download it with `racingline tracks download {stem}` or give a path to a .npy file"
        )
    raise TrackError(f"{raw}: no such file")


def _load_array(path: Path, label: str) -> np.ndarray:
    size = path.stat().st_size
    if size > MAX_TRACK_FILE_BYTES:
        raise TrackError(f"{label}: file is {size} bytes, far larger than any track file")
    if zipfile.is_zipfile(path):
        raise TrackError(f"{label}: is a .npz archive or zip file, expected a single .npy array")
    with open(path, "rb") as fh:
        head = fh.read(64)
    if not head.startswith(b"\x93NUMPY"):
        kind = "an HTML page" if b"<html" in head.lower() or b"<!doctype" in head.lower() else (
            "a text file" if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head) else "unknown bytes")
        raise TrackError(f"{label}: not a NumPy .npy file (it looks like {kind})")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise TrackError(f"{label}: holds Python objects (an object array), expected numbers") from None
        raise TrackError(f"{label}: not a NumPy .npy file ({exc})") from None
    except (OSError, EOFError) as exc:
        raise TrackError(f"{label}: not a readable NumPy .npy file ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - numpy raises assorted errors on garbage
        raise TrackError(f"{label}: not a NumPy .npy file ({type(exc).__name__}: {exc})") from None
    if not isinstance(arr, np.ndarray):
        raise TrackError(f"{label}: not a single NumPy array")
    return arr


def track_from_array(array: np.ndarray, *, name: str = "track", label: str | None = None,
                     source: str | None = None, reverse: bool = False) -> Track:
    """Validate a DeepRacer ``(N, 6)`` array and build a :class:`Track` from it.

    Raises :class:`TrackError` (message starting with ``label``) when the array is not a usable track.
    """
    label = label or name
    arr = np.asarray(array)
    if arr.dtype == object:
        raise TrackError(f"{label}: holds Python objects (an object array), expected numbers")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TrackError(f"{label}: has dtype {arr.dtype}, expected floating-point numbers")
    if arr.ndim != 2 or arr.shape[1] != 6:
        raise TrackError(
            f"{label}: has shape {arr.shape}, expected (N, 6) rows of "
            "center_x, center_y, inside_x, inside_y, outside_x, outside_y"
        )
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise TrackError(f"{label}: holds non-finite values (NaN or inf), first at row {row}")
    # Drop consecutive duplicate rows (on the centerline), then the closing repeat of row 0.
    center = arr[:, 0:2]
    keep = np.ones(len(arr), dtype=bool)
    keep[1:] = np.hypot(*(np.diff(center, axis=0)).T) > 1e-9
    arr = arr[keep]
    if len(arr) > 1 and np.hypot(*(arr[-1, 0:2] - arr[0, 0:2])) <= 1e-9:
        arr = arr[:-1]
    if len(arr) < MIN_WAYPOINTS:
        raise TrackError(f"{label}: has {len(arr)} distinct waypoints, at least {MIN_WAYPOINTS} are needed")
    center = arr[:, 0:2]
    spacing = np.hypot(*(np.diff(center, axis=0)).T)
    median = float(np.median(spacing))
    gap = float(np.hypot(*(center[-1] - center[0])))
    if gap > CLOSE_GAP_FACTOR * median:
        raise TrackError(
            f"{label}: centerline is not a closed loop: the last waypoint is {gap:.3g} m from the first "
            f"(median waypoint spacing {median:.3g} m)"
        )
    widths = np.hypot(*(arr[:, 4:6] - arr[:, 2:4]).T)
    if widths.min() <= 1e-6:
        row = int(np.argmin(widths))
        raise TrackError(f"{label}: road width is zero or negative at waypoint {row} (inside == outside)")
    # Inside and outside must lie on opposite sides of the centerline.
    seg = np.roll(center, -1, axis=0) - np.roll(center, 1, axis=0)
    normal = np.stack([-seg[:, 1], seg[:, 0]], axis=1)
    side_in = np.einsum("ij,ij->i", arr[:, 2:4] - center, normal)
    side_out = np.einsum("ij,ij->i", arr[:, 4:6] - center, normal)
    wrong = (side_in * side_out) > 0
    if wrong.mean() > 0.2:
        row = int(np.argmax(wrong))
        raise TrackError(
            f"{label}: inside and outside borders lie on the same side of the centerline "
            f"(zero or negative road width), first at waypoint {row}"
        )
    crossing = _first_self_intersection(center)
    if crossing is not None:
        i, j = crossing
        raise TrackError(f"{label}: centerline intersects itself (segments {i} and {j} cross)")
    track = Track(name=name, waypoints=arr.reshape(-1, 3, 2), source=source)
    return track.reversed() if reverse else track


def _first_self_intersection(center: np.ndarray) -> tuple[int, int] | None:
    """Indices of the first pair of non-adjacent crossing segments of a closed polyline, or None."""
    a = center
    b = np.roll(center, -1, axis=0)
    n = len(a)
    d = b - a
    # Pairwise proper intersection test, vectorised one row at a time to bound memory.
    for i in range(n - 2):
        j = np.arange(i + 2, n)
        if i == 0:
            j = j[j != n - 1]
        if len(j) == 0:
            continue
        p, r = a[i], d[i]
        q, s = a[j], d[j]
        rxs = r[0] * s[:, 1] - r[1] * s[:, 0]
        qp = q - p
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (qp[:, 0] * s[:, 1] - qp[:, 1] * s[:, 0]) / rxs
            u = (qp[:, 0] * r[1] - qp[:, 1] * r[0]) / rxs
        hit = (np.abs(rxs) > 1e-12) & (t >= 0.0) & (t < 1.0) & (u >= 0.0) & (u < 1.0)
        if hit.any():
            return i, int(j[np.argmax(hit)])
    return None


def load_track(path_or_name: str | os.PathLike | Track, *, reverse: bool = False) -> Track:
    """Load, validate and return a DeepRacer track.

    Args:
        path_or_name: a ``.npy`` path, a track name (looked up as in :func:`resolve_track_path`), or a
            :class:`Track` (returned as is, reversed if asked).
        reverse: drive the track the other way (same start waypoint).

    Raises:
        TrackError: the file is missing or is not a valid closed track; the message names the file.
    """
    if isinstance(path_or_name, Track):
        return path_or_name.reversed() if reverse else path_or_name
    path = resolve_track_path(path_or_name)
    label = str(path_or_name) if str(path_or_name) == str(path) else f"{path_or_name} ({path})"
    arr = _load_array(path, label)
    name = path.name[:-4] if path.name.endswith(".npy") else path.stem
    return track_from_array(arr, name=name, label=label, source=str(path), reverse=reverse)


def save_track_array(array: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a ``(N, 6)`` track array to ``path`` atomically (temporary file, then rename)."""
    import io

    from racingline.io import atomic_write_bytes  # local import keeps tracks.py dependency-light

    buf = io.BytesIO()
    np.save(buf, np.asarray(array, dtype=np.float64), allow_pickle=False)
    return atomic_write_bytes(path, buf.getvalue())
