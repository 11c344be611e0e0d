"""DeepRacer track files: find, load, validate, and the geometry derived from them.

A DeepRacer track file is a NumPy ``.npy`` array of shape ``(N, 6)`` in metres, one row per
waypoint: ``center_x, center_y, inside_x, inside_y, outside_x, outside_y``. The waypoints run in
the driving direction; the first row usually repeats as the last (a closed loop).

Validation runs cheapest first and is bounded: the file size and the row count (read from the
``.npy`` header, before the data) come before any geometry, every geometric check is O(n), and the
self-intersection test is O(n) on a track (a uniform grid of segment boxes) and at worst O(n^2) on
at most ``MAX_WAYPOINTS`` points. A track must be of DeepRacer size: the limits below
(``MIN_WAYPOINTS``..``MAX_WAYPOINTS``, ``MIN_LENGTH_M``..``MAX_LENGTH_M``, ``MAX_EXTENT_M``,
``MIN_WIDTH_M``..``MAX_WIDTH_M``, ``MIN_WAYPOINT_WIDTH_M``) come from the real tracks with a wide
margin; a file outside them is a :class:`TrackError` naming the file, the quantity, its value and the
allowed range.

Closure rule: a centerline whose last waypoint does not coincide with its first is still accepted
when the gap is at most ``max(CLOSE_GAP_FACTOR x median waypoint spacing, CLOSE_GAP_WIDTHS x mean
road width)``; the loop is then closed by joining the last waypoint to the first. The width term
admits real league tracks sampled finer than their end gap (``caecer_loop``: gap 0.517 m, spacing
0.150 m, width 1.08 m). A larger gap is rejected: such a file is an open path, not a circuit (the
community ``Straight_track`` has a 5.7 m gap).
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


# Limits. Measured on the 53 files of the 2022 league (all directions) and the project's 3 tracks:
# 74..257 distinct waypoints, centerline 22.5..76.8 m, bounding box (borders included) 8.8..23.8 m on
# its longer side, mean road width 0.950..1.070 m, narrowest waypoint 0.95 m, median spacing
# 0.20..0.30 m; the catalog (63 DeepRacer tracks back to 2018, most not on disk) lists lengths
# 16.6..89.2 m and widths 0.76..1.35 m. Each limit leaves a wide margin around those ranges.

#: Largest accepted gap between the last and first waypoint, in median waypoint spacings ...
CLOSE_GAP_FACTOR = 3.0
#: ... or in mean road widths, whichever is larger (caecer_loop: 0.517 m gap = 0.48 widths).
CLOSE_GAP_WIDTHS = 1.0
#: Fewest distinct waypoints a track may have.
MIN_WAYPOINTS = 10
#: Most waypoints a track may have (real: 74..257; 150 m sampled every 3 cm is 5,000).
MAX_WAYPOINTS = 5_000
#: Shortest and longest centerline, metres (real: 16.6..89.2 m).
MIN_LENGTH_M = 8.0
MAX_LENGTH_M = 150.0
#: Longest side of the bounding box of centerline and borders, metres (real: 8.8..23.8 m; both renderers
#: were tried on a 148 m track 94 m across).
MAX_EXTENT_M = 100.0
#: Narrowest and widest mean road width, metres (real: 0.76..1.35 m).
MIN_WIDTH_M = 0.3
MAX_WIDTH_M = 3.0
#: Narrowest road at any single waypoint, metres (real: 0.95 m).
MIN_WAYPOINT_WIDTH_M = 0.1
#: Files larger than this are not tracks (``MAX_WAYPOINTS`` float64 rows are 240 KB; real files 4..13 KB).
MAX_TRACK_FILE_BYTES = 1024 * 1024


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
        from racingline.tracks.catalog import not_found_hint  # the catalog reads track files itself

        raise TrackError(f"{raw}: no such track file; looked in {where}. {not_found_hint(fname[:-4], dirs=dirs)}")
    raise TrackError(f"{raw}: no such file")


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype] | None:
    """Shape and dtype from a ``.npy`` header, read without the data; ``None`` when it cannot be parsed
    (``np.load`` then says why)."""
    from numpy.lib import format as npy_format

    try:
        with open(path, "rb") as fh:
            version = npy_format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = npy_format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = npy_format.read_array_header_2_0(fh)
            else:
                return None
    except Exception:  # noqa: BLE001 - a garbled header; np.load reports it
        return None
    return tuple(int(d) for d in shape), np.dtype(dtype)


def _check_row_count(label: str, rows: int) -> None:
    # The closing row may repeat the first, so MAX_WAYPOINTS distinct waypoints take MAX_WAYPOINTS + 1 rows.
    if rows > MAX_WAYPOINTS + 1:
        raise TrackError(
            f"{label}: has {rows:,} rows, too many waypoints for a track "
            f"(allowed {MIN_WAYPOINTS}..{MAX_WAYPOINTS:,}; real DeepRacer tracks have about 70..260)"
        )


def _load_array(path: Path, label: str) -> np.ndarray:
    if zipfile.is_zipfile(path):
        raise TrackError(f"{label}: is a .npz archive or zip file, expected a single .npy array")
    with open(path, "rb") as fh:
        head = fh.read(64)
    if not head.startswith(b"\x93NUMPY"):
        kind = "an HTML page" if b"<html" in head.lower() or b"<!doctype" in head.lower() else (
            "a text file" if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head) else "unknown bytes")
        raise TrackError(f"{label}: not a NumPy .npy file (it looks like {kind})")
    header = _npy_header(path)
    if header is not None:
        shape, dtype = header
        if dtype.hasobject:
            raise TrackError(f"{label}: holds Python objects (an object array), expected numbers")
        if len(shape) == 2 and shape[1] == 6:
            _check_row_count(label, shape[0])  # before reading the data
    size = path.stat().st_size
    if size > MAX_TRACK_FILE_BYTES:
        raise TrackError(
            f"{label}: file is {size:,} bytes, far larger than any track file (limit {MAX_TRACK_FILE_BYTES:,})"
        )
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


def _metres(value: float) -> str:
    return f"{value:.3f} m" if abs(value) < 1.0 else f"{value:,.1f} m"


def _check_range(label: str, quantity: str, value: float, low: float, high: float, real: str,
                 where: str = "") -> None:
    """Raise a :class:`TrackError` naming the quantity, its value and the allowed range when out of range."""
    if not (low <= value <= high):
        allowed = (f"at most {high:g} m" if low <= 0 else f"at least {low:g} m" if high == np.inf
                   else f"{low:g}..{high:g} m")
        raise TrackError(
            f"{label}: {quantity} is {_metres(value)}{where}, outside the allowed range ({allowed}; "
            f"real DeepRacer tracks: {real}); is it a DeepRacer track in metres?"
        )


def track_from_array(array: np.ndarray, *, name: str = "track", label: str | None = None,
                     source: str | None = None, reverse: bool = False) -> Track:
    """Validate a DeepRacer ``(N, 6)`` array and build a :class:`Track` from it.

    Checks run cheapest first: dtype and shape, row count, finiteness, then O(n) geometry (extent,
    border sides, width, closure, length) and last the self-intersection test.

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
    _check_row_count(label, arr.shape[0])
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
        raise TrackError(f"{label}: has {len(arr)} distinct waypoints, at least {MIN_WAYPOINTS} are needed "
                         f"(allowed {MIN_WAYPOINTS}..{MAX_WAYPOINTS:,})")
    points = arr.reshape(-1, 2)
    extent = float(np.max(points.max(axis=0) - points.min(axis=0)))
    _check_range(label, "the bounding box (longer side)", extent, 0.0, MAX_EXTENT_M, "8.8..23.8 m")
    widths = np.hypot(*(arr[:, 4:6] - arr[:, 2:4]).T)
    if widths.min() <= 1e-6:
        row = int(np.argmin(widths))
        raise TrackError(f"{label}: road width is zero or negative at waypoint {row} (inside == outside)")
    center = arr[:, 0:2]
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
    width = float(widths.mean())
    _check_range(label, "the mean road width", width, MIN_WIDTH_M, MAX_WIDTH_M, "0.76..1.35 m")
    row = int(np.argmin(widths))
    _check_range(label, "the road width", float(widths[row]), MIN_WAYPOINT_WIDTH_M, np.inf,
                 "at least 0.95 m", where=f" at waypoint {row}")
    spacing = np.hypot(*(np.diff(center, axis=0)).T)
    median = float(np.median(spacing))
    gap = float(np.hypot(*(center[-1] - center[0])))
    allowed_gap = max(CLOSE_GAP_FACTOR * median, CLOSE_GAP_WIDTHS * width)
    if gap > allowed_gap:
        raise TrackError(
            f"{label}: centerline is not a closed loop: the last waypoint is {gap:.3g} m from the first "
            f"(median waypoint spacing {median:.3g} m, road width {width:.3g} m; a gap up to "
            f"{allowed_gap:.3g} m is closed)"
        )
    length = float(spacing.sum()) + gap
    _check_range(label, "the centerline length", length, MIN_LENGTH_M, MAX_LENGTH_M, "16.6..89.2 m")
    crossing = _first_self_intersection(center)
    if crossing is not None:
        i, j = crossing
        raise TrackError(f"{label}: centerline intersects itself (segments {i} and {j} cross)")
    track = Track(name=name, waypoints=arr.reshape(-1, 3, 2), source=source)
    return track.reversed() if reverse else track


#: Candidate segment pairs tested per vectorised batch (bounds the self-intersection test's memory).
_PAIR_BATCH = 1 << 18
#: Grid cells a segment box may cover on average before the cells are made coarser.
_CELLS_PER_SEGMENT = 8


def _segments_cross(a: np.ndarray, d: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Whether segment ``i`` (``a[i]`` to ``a[i] + d[i]``) properly crosses segment ``j``, pairwise.

    The same arithmetic, term for term, as the row-by-row O(n^2) test it replaces: parameters ``t``
    (on ``i``) and ``u`` (on ``j``) in ``[0, 1)``; parallel pairs (``|r x s| <= 1e-12``) never cross.
    """
    p, r = a[i], d[i]
    q, s = a[j], d[j]
    rxs = r[:, 0] * s[:, 1] - r[:, 1] * s[:, 0]
    qp = q - p
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (qp[:, 0] * s[:, 1] - qp[:, 1] * s[:, 0]) / rxs
        u = (qp[:, 0] * r[:, 1] - qp[:, 1] * r[:, 0]) / rxs
    return (np.abs(rxs) > 1e-12) & (t >= 0.0) & (t < 1.0) & (u >= 0.0) & (u < 1.0)


def _first_self_intersection(center: np.ndarray) -> tuple[int, int] | None:
    """The first (lowest ``i``, then lowest ``j``) pair ``i < j`` of non-adjacent crossing segments of a
    closed polyline, or None. Segment ``k`` runs from ``center[k]`` to ``center[k + 1]`` (wrapping).

    A uniform grid: each segment's bounding box (grown by a rounding margin) is entered in the cells
    it covers, and only pairs sharing a cell are tested, each once (in the cell holding the lower-left
    corner of the two boxes' overlap), with vectorised NumPy in bounded batches. The cell starts at the
    median segment length and doubles until the boxes cover at most ``_CELLS_PER_SEGMENT`` cells per
    segment on average, so a track (segments of similar length, each cell near a few of them) costs
    O(n log n) (the sort); n segments crowded in one cell cost O(n^2) pair tests, bounded by
    ``MAX_WAYPOINTS`` when called from :func:`track_from_array`.
    """
    a = np.asarray(center, dtype=np.float64)
    n = len(a)
    if n < 4:
        return None
    b = np.roll(a, -1, axis=0)
    d = b - a
    margin = 1e-9 * max(1.0, float(np.abs(a).max()))
    lo = np.minimum(a, b) - margin
    hi = np.maximum(a, b) + margin
    origin = lo.min(axis=0)
    seg_len = np.hypot(d[:, 0], d[:, 1])
    cell = max(float(np.median(seg_len)), float(np.max(hi - lo)) / 1e6, 1e-12)  # <= ~40 doublings
    while True:
        c_lo = np.floor((lo - origin) / cell)
        c_hi = np.floor((hi - origin) / cell)
        counts = (c_hi - c_lo + 1.0).prod(axis=1)  # float: no overflow however fine the grid
        if counts.sum() <= _CELLS_PER_SEGMENT * n:
            break
        cell *= 2.0
    c_lo = c_lo.astype(np.int64)
    nx = (c_hi[:, 0] - c_lo[:, 0] + 1.0).astype(np.int64)
    counts = counts.astype(np.int64)
    # One entry per (segment, cell covered), sorted by cell.
    seg_of = np.repeat(np.arange(n), counts)
    k = np.arange(len(seg_of)) - np.repeat(np.cumsum(counts) - counts, counts)
    cx = c_lo[seg_of, 0] + k % nx[seg_of]
    cy = c_lo[seg_of, 1] + k // nx[seg_of]
    order = np.lexsort((seg_of, cy, cx))
    seg_of, cx, cy = seg_of[order], cx[order], cy[order]
    m = len(seg_of)
    new_cell = np.ones(m, dtype=bool)
    new_cell[1:] = (cx[1:] != cx[:-1]) | (cy[1:] != cy[:-1])
    starts = np.flatnonzero(new_cell)
    ends = np.append(starts[1:], m)
    group_end = np.repeat(ends, ends - starts)
    # Entry e pairs with the entries after it in its cell: e+1 .. group_end[e]-1.
    partners = group_end - np.arange(m) - 1
    total = np.cumsum(partners)
    best = None
    first = 0
    while first < m:
        done = int(total[first - 1]) if first else 0
        last = max(int(np.searchsorted(total, done + _PAIR_BATCH, side="right")), first + 1)
        cnt = partners[first:last]
        e1 = np.repeat(np.arange(first, last), cnt)
        e2 = e1 + 1 + np.arange(len(e1)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        first = last
        if len(e1) == 0:
            continue
        s1, s2 = seg_of[e1], seg_of[e2]
        i, j = np.minimum(s1, s2), np.maximum(s1, s2)
        keep = (j - i >= 2) & ~((i == 0) & (j == n - 1))
        # Boxes overlap, and this cell holds the overlap's lower-left corner (each pair tested once).
        corner = np.maximum(lo[i], lo[j])
        keep &= np.all(corner <= np.minimum(hi[i], hi[j]), axis=1)
        corner_cell = np.floor((corner - origin) / cell).astype(np.int64)
        keep &= (corner_cell[:, 0] == cx[e1]) & (corner_cell[:, 1] == cy[e1])
        i, j = i[keep], j[keep]
        hit = _segments_cross(a, d, i, j)
        if hit.any():
            key = int(np.min(i[hit] * n + j[hit]))
            best = key if best is None else min(best, key)
    return None if best is None else (best // n, best % n)


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
