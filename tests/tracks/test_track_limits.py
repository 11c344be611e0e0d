"""Track size limits, the closure rule and the bounded self-intersection test (racingline.tracks.files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from racingline import TrackError, load_track
from racingline.tracks.files import (
    CLOSE_GAP_FACTOR,
    CLOSE_GAP_WIDTHS,
    MAX_EXTENT_M,
    MAX_LENGTH_M,
    MAX_WAYPOINTS,
    MAX_WIDTH_M,
    MIN_LENGTH_M,
    MIN_WAYPOINT_WIDTH_M,
    MIN_WAYPOINTS,
    MIN_WIDTH_M,
    PROJECT_TRACKS_DIR,
    _first_self_intersection,
    track_from_array,
)
from racingline.tracks.generator import generate_track, rounded_rectangle, track_array_from_centerline


def circle(radius_m: float = 5.0, n: int = 200, width_m: float = 1.07) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return track_array_from_centerline(np.stack([radius_m * np.cos(t), radius_m * np.sin(t)], axis=1), width_m)


def save(folder: Path, name: str, arr: np.ndarray) -> Path:
    path = folder / name
    np.save(path, arr)
    return path


def reference_first_self_intersection(center: np.ndarray) -> tuple[int, int] | None:
    """The O(n^2) test the grid replaced, kept verbatim as the reference."""
    a = center
    b = np.roll(center, -1, axis=0)
    n = len(a)
    d = b - a
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


def project_track_paths() -> list[Path]:
    return sorted(PROJECT_TRACKS_DIR.glob("*.npy"))


# ---------------------------------------------------------------- the limits, each named with value and range
def test_limits_bracket_the_real_tracks_with_margin():
    assert MIN_WAYPOINTS <= 74 // 2 and MAX_WAYPOINTS >= 10 * 257
    assert MIN_LENGTH_M <= 16.6 / 2 and MAX_LENGTH_M >= 1.5 * 89.2
    assert MAX_EXTENT_M >= 4 * 23.8
    assert MIN_WIDTH_M <= 0.76 / 2 and MAX_WIDTH_M >= 2 * 1.35
    assert MIN_WAYPOINT_WIDTH_M <= 0.95 / 5


def test_too_many_waypoints(tmp_path):
    path = save(tmp_path, "dense.npy", circle(n=MAX_WAYPOINTS + 500))
    with pytest.raises(TrackError, match=r"dense\.npy: has 5,501 rows, too many waypoints.*allowed 10\.\.5,000"):
        load_track(path)


def test_most_waypoints_allowed_still_loads(tmp_path):
    track = load_track(save(tmp_path, "fine.npy", circle(radius_m=20.0, n=MAX_WAYPOINTS)))
    assert track.n_waypoints == MAX_WAYPOINTS


def test_340k_row_file_is_refused_by_its_row_count(tmp_path):
    arr = np.zeros((340_000, 6))
    path = save(tmp_path, "bomb.npy", arr)
    assert path.stat().st_size < 16 * 1024 * 1024  # under the old size cap: it used to hang `tracks show`
    with pytest.raises(TrackError) as err:
        load_track(path)
    msg = str(err.value)
    assert "bomb.npy" in msg and "340,000 rows" in msg and "allowed 10..5,000" in msg
    with pytest.raises(TrackError, match="340,000 rows"):
        track_from_array(arr, name="bomb")  # the same check for arrays that come from elsewhere (downloads)


def test_large_file_of_another_shape_is_refused_by_its_size(tmp_path):
    path = save(tmp_path, "flat.npy", np.zeros(2_000_000))
    with pytest.raises(TrackError, match=r"flat\.npy: file is 16,000,128 bytes, far larger than any track"):
        load_track(path)


def test_km_scaled_track_refused(tmp_path):
    path = save(tmp_path, "km.npy", circle() * 1000.0)
    with pytest.raises(TrackError, match=r"km\.npy: the bounding box \(longer side\) is 11,070\.0 m.*at most 100 m"):
        load_track(path)


def test_too_wide(tmp_path):
    path = save(tmp_path, "wide.npy", circle(radius_m=8.0, width_m=4.0))
    with pytest.raises(TrackError, match=r"wide\.npy: the mean road width is 4\.0 m.*0\.3\.\.3 m"):
        load_track(path)


def test_one_millimetre_wide_road_refused(tmp_path):
    path = save(tmp_path, "thin.npy", circle(width_m=0.001))
    with pytest.raises(TrackError, match=r"thin\.npy: the mean road width is 0\.001 m.*0\.3\.\.3 m"):
        load_track(path)


def test_road_pinched_at_one_waypoint_refused(tmp_path):
    arr = circle()
    arr[30, 2:4] = arr[30, 0:2] + 0.02 * (arr[30, 2:4] - arr[30, 0:2])
    arr[30, 4:6] = arr[30, 0:2] + 0.02 * (arr[30, 4:6] - arr[30, 0:2])
    path = save(tmp_path, "pinch.npy", arr)
    with pytest.raises(TrackError, match=r"pinch\.npy: the road width is 0\.021 m at waypoint 30.*at least 0\.1 m"):
        load_track(path)


def test_too_long(tmp_path):
    path = save(tmp_path, "long.npy", circle(radius_m=30.0, n=600))  # 188 m, 61 m across: inside the extent
    with pytest.raises(TrackError, match=r"long\.npy: the centerline length is 188\.5 m.*8\.\.150 m"):
        load_track(path)


def test_too_small(tmp_path):
    path = save(tmp_path, "tiny.npy", circle(radius_m=1.0, n=40, width_m=0.5))
    with pytest.raises(TrackError, match=r"tiny\.npy: the centerline length is 6\.3 m.*8\.\.150 m"):
        load_track(path)


def test_largest_allowed_track_loads():
    arr = track_array_from_centerline(rounded_rectangle(72.0, 3.2, 1.5))  # 148 m long, 73 m across
    track = track_from_array(arr, name="big")
    assert MAX_LENGTH_M - 5 < track.length_m < MAX_LENGTH_M


# ---------------------------------------------------------------- closure
def caecer_loop_like() -> np.ndarray:
    """A closed loop like caecer_loop: spacing 0.150 m, width 1.08 m, last waypoint 0.517 m from the first."""
    n, spacing, gap = 258, 0.150, 0.517
    radius = ((n - 1) * spacing + gap) / (2 * np.pi)
    ang = np.arange(n) * spacing / radius
    center = np.stack([radius * np.cos(ang), radius * np.sin(ang)], axis=1)
    return track_array_from_centerline(center, 1.08)[:-1]  # no closing row


def test_caecer_loop_like_gap_is_closed(tmp_path):
    arr = caecer_loop_like()
    gap = float(np.hypot(*(arr[-1, :2] - arr[0, :2])))
    spacing = float(np.median(np.hypot(*np.diff(arr[:, :2], axis=0).T)))
    assert gap == pytest.approx(0.517, abs=1e-3) and spacing == pytest.approx(0.150, abs=1e-3)
    assert gap > CLOSE_GAP_FACTOR * spacing  # the old rule (3 spacings) refused it
    track = load_track(save(tmp_path, "caecer_loop.npy", arr))
    assert track.n_waypoints == 258
    assert track.length_m == pytest.approx(39.07, abs=0.01)


def test_straight_track_like_open_path_rejected(tmp_path):
    # An open U: two 12 m straights joined by a half circle, ends 5.7 m apart (like Straight_track).
    r = 5.7 / 2
    t = np.linspace(0, np.pi, 31)
    bend = np.stack([12 + r * np.sin(t), r * np.cos(t)], axis=1)
    top = np.stack([np.arange(0, 12, 0.3), np.full(40, r)], axis=1)
    bottom = top[::-1] * [1, -1]
    center = np.vstack([top, bend[1:-1], bottom])
    arr = track_array_from_centerline(center)[:-1]
    with pytest.raises(TrackError, match=r"straight\.npy: centerline is not a closed loop.*5\.7 m from the first"):
        load_track(save(tmp_path, "straight.npy", arr))


def test_gap_just_over_one_width_rejected_just_under_accepted():
    spacing = 0.15
    for gap, ok in ((0.95 * CLOSE_GAP_WIDTHS * 1.07, True), (1.05 * CLOSE_GAP_WIDTHS * 1.07, False)):
        n = 200
        radius = ((n - 1) * spacing + gap) / (2 * np.pi)
        ang = np.arange(n) * spacing / radius
        arr = track_array_from_centerline(np.stack([radius * np.cos(ang), radius * np.sin(ang)], axis=1))[:-1]
        if ok:
            track_from_array(arr, name="g")
        else:
            with pytest.raises(TrackError, match="not a closed loop"):
                track_from_array(arr, name="g")


# ---------------------------------------------------------------- the grid intersection test equals the O(n^2) one
def _random_polylines(seed: int, count: int):
    rng = np.random.default_rng(seed)
    for k in range(count):
        n = int(rng.integers(4, 90))
        kind = k % 4
        if kind == 0:  # points anywhere: many crossings
            c = rng.uniform(-10, 10, (n, 2))
        elif kind == 1:  # a random walk
            c = np.cumsum(rng.normal(size=(n, 2)), axis=0)
        elif kind == 2:  # a lattice walk: vertices on other segments, collinear overlaps, parallel pairs
            c = np.cumsum(rng.choice([-1.0, 0.0, 1.0], size=(n, 2)), axis=0)
        else:  # a wobbly loop around the origin: sometimes simple, sometimes not
            t = np.sort(rng.uniform(0, 2 * np.pi, n))
            r = 5 + rng.uniform(-1, 1, n) * rng.uniform(0, 4)
            c = np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
        c = c[np.r_[True, np.any(np.diff(c, axis=0) != 0, axis=1)]]
        if len(c) >= 4:
            yield c


def test_grid_equals_reference_on_random_polylines():
    found = 0
    for c in _random_polylines(seed=0, count=400):
        expected = reference_first_self_intersection(c)
        assert _first_self_intersection(c) == expected
        found += expected is not None
    assert 150 < found < 390  # both outcomes well represented


def _assert_simple_and_folded_equal(centers: list[np.ndarray]) -> None:
    for c in centers:
        assert reference_first_self_intersection(c) is None
        assert _first_self_intersection(c) is None
        # Folding a track onto itself makes crossings; the first one found must be the same.
        folded = c.copy()
        folded[len(c) // 3] = folded[2 * len(c) // 3]
        folded[len(c) // 2] += [0.0, 0.7]
        expected = reference_first_self_intersection(folded)
        assert expected is not None
        assert _first_self_intersection(folded) == expected


def test_grid_equals_reference_on_generated_and_project_tracks():
    centers = [track_from_array(generate_track(seed), name="g").center for seed in range(8)]
    _assert_simple_and_folded_equal(centers + [load_track(p).center for p in project_track_paths()])


def test_grid_equals_reference_on_2022_tracks(shared_2022):
    _assert_simple_and_folded_equal([load_track(p).center for p in sorted(shared_2022.glob("*.npy"))])


def test_grid_equals_reference_on_a_large_figure_eight():
    t = np.linspace(0, 2 * np.pi, 3999, endpoint=False) + 0.1  # the crossing between vertices
    eight = np.stack([6 * np.sin(t), 3 * np.sin(2 * t)], axis=1)
    expected = reference_first_self_intersection(eight)
    assert expected is not None
    assert _first_self_intersection(eight) == expected


def test_crossing_message_names_the_segments(tmp_path):
    t = np.linspace(0, 2 * np.pi, 300, endpoint=False)
    eight = np.stack([6 * np.sin(t), 3 * np.sin(2 * t)], axis=1)
    arr = np.hstack([eight, eight + [0, 0.5], eight - [0, 0.5]])
    i, j = reference_first_self_intersection(eight)
    with pytest.raises(TrackError, match=rf"eight\.npy: centerline intersects itself \(segments {i} and {j} cross\)"):
        load_track(save(tmp_path, "eight.npy", arr))


def test_grid_handles_segments_of_very_different_lengths():
    # 400 points crowded in 1 cm plus three 100 m segments: the cells grow until the long ones fit.
    rng = np.random.default_rng(3)
    c = np.vstack([rng.uniform(0, 0.01, (400, 2)), [[100.0, 100.0], [100.0, 0.0]]])
    assert _first_self_intersection(c) == reference_first_self_intersection(c)
    simple = np.array([[0.0, 0.0], [0.001, 0.0], [100.0, 50.0], [0.0, 100.0], [0.0, 0.002]])
    assert _first_self_intersection(simple) is None and reference_first_self_intersection(simple) is None


# ---------------------------------------------------------------- every real track still loads, within the limits
def test_project_tracks_load_within_limits():
    for path in project_track_paths():
        _assert_within_limits(load_track(path), path)


def test_every_2022_track_loads_within_limits(shared_2022):
    paths = sorted(shared_2022.glob("*.npy"))
    assert len(paths) >= 50
    for path in paths:
        _assert_within_limits(load_track(path), path)
        _assert_within_limits(load_track(path, reverse=True), path)


def _assert_within_limits(track, path) -> None:
    points = track.waypoints.reshape(-1, 2)
    assert MIN_WAYPOINTS <= track.n_waypoints <= MAX_WAYPOINTS / 10, path
    assert 2 * MIN_LENGTH_M <= track.length_m <= MAX_LENGTH_M / 1.5, path
    assert np.ptp(points, axis=0).max() <= MAX_EXTENT_M / 4, path
    assert 2 * MIN_WIDTH_M <= track.width_m <= MAX_WIDTH_M / 2, path
    assert track.widths_m.min() >= 5 * MIN_WAYPOINT_WIDTH_M, path
