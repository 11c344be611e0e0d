"""Track loading, validation and geometry (racingline.tracks.files, racingline.tracks.generator)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from racingline import Track, TrackError, load_track
from racingline.tracks.files import PROJECT_TRACKS_DIR, track_from_array
from racingline.tracks.generator import PROJECT_SHAPES, track_array_from_centerline


def circle(radius_m: float = 5.0, n: int = 200, width_m: float = 1.07) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return track_array_from_centerline(np.stack([radius_m * np.cos(t), radius_m * np.sin(t)], axis=1), width_m)


def save(tmp_path, name: str, arr) -> str:
    path = tmp_path / name
    np.save(path, arr, allow_pickle=True)
    return str(path)


# ---------------------------------------------------------------- validation: each failure names the file
def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "nope.npy"
    with pytest.raises(TrackError, match="nope.npy"):
        load_track(path)


def test_unknown_name_says_where_it_looked_and_what_to_do():
    with pytest.raises(TrackError) as err:
        load_track("no_such_track_name")
    msg = str(err.value)
    assert "no_such_track_name" in msg and "looked in" in msg and "not a known DeepRacer track" in msg
    assert "racingline tracks download" not in msg  # not a catalog name: nothing to download
    with pytest.raises(TrackError) as err:
        load_track("2022_may_pro")  # a catalog name not downloaded here
    assert "racingline tracks download 2022_may_pro" in str(err.value)
    with pytest.raises(TrackError) as err:
        load_track("kidny")
    assert "closest: kidney" in str(err.value)


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"\x93NUMPY garbage \x00\x01\x02" * 3, "not"),
        (bytes(range(256)) * 4, "not"),
        (b"<!DOCTYPE html><html><body>404 Not Found</body></html>", "not"),
        (b"1,2,3,4,5,6\n7,8,9,10,11,12\n", "not"),
    ],
)
def test_not_a_numpy_file(tmp_path, content, problem):
    path = tmp_path / "bad.npy"
    path.write_bytes(content)
    with pytest.raises(TrackError, match=r"bad\.npy.*" + problem):
        load_track(path)


def test_npz_archive_rejected(tmp_path):
    path = tmp_path / "arch.npy"
    with open(path, "wb") as fh:
        np.savez(fh, a=circle())
    with pytest.raises(TrackError, match=r"arch\.npy.*npz"):
        load_track(path)


def test_object_array_rejected(tmp_path):
    arr = np.empty((20, 6), dtype=object)
    arr[:] = 1.0
    path = save(tmp_path, "objects.npy", arr)
    with pytest.raises(TrackError, match=r"objects\.npy.*object"):
        load_track(path)


@pytest.mark.parametrize("shape", [(50, 4), (50,), (50, 6, 1), (6, 50)])
def test_wrong_shape(tmp_path, shape):
    path = save(tmp_path, "shape.npy", np.zeros(shape))
    with pytest.raises(TrackError, match=r"shape\.npy.*shape"):
        load_track(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite(tmp_path, bad):
    arr = circle()
    arr[17, 3] = bad
    path = save(tmp_path, "nan.npy", arr)
    with pytest.raises(TrackError, match=r"nan\.npy.*non-finite.*row 17"):
        load_track(path)


def test_too_few_waypoints(tmp_path):
    path = save(tmp_path, "few.npy", circle(n=8))
    with pytest.raises(TrackError, match=r"few\.npy.*8 distinct waypoints"):
        load_track(path)


def test_duplicates_do_not_count_as_waypoints(tmp_path):
    arr = np.repeat(circle(n=9)[:-1], 3, axis=0)  # 27 rows, 9 distinct
    path = save(tmp_path, "dups.npy", arr)
    with pytest.raises(TrackError, match="9 distinct"):
        load_track(path)


def test_zero_width(tmp_path):
    arr = circle()
    arr[:, 2:4] = arr[:, 0:2]
    arr[:, 4:6] = arr[:, 0:2]
    path = save(tmp_path, "zero.npy", arr)
    with pytest.raises(TrackError, match=r"zero\.npy.*width"):
        load_track(path)


def test_negative_width_borders_swapped_to_one_side(tmp_path):
    arr = circle()
    arr[:, 4:6] = arr[:, 0:2] + 0.5 * (arr[:, 2:4] - arr[:, 0:2])  # outside moved to the inside
    path = save(tmp_path, "neg.npy", arr)
    with pytest.raises(TrackError, match=r"neg\.npy.*same side"):
        load_track(path)


def test_open_path_rejected(tmp_path):
    t = np.linspace(0, 1.5 * np.pi, 100)  # three quarters of a circle
    c = np.stack([5 * np.cos(t), 5 * np.sin(t)], axis=1)
    arr = track_array_from_centerline(c)[:-1]  # no closing row
    path = save(tmp_path, "open.npy", arr)
    with pytest.raises(TrackError, match=r"open\.npy.*not a closed loop"):
        load_track(path)


def test_small_closing_gap_is_closed_implicitly(tmp_path):
    arr = circle()[:-2]  # drop the closing row and one more: gap of one spacing
    track = load_track(save(tmp_path, "gap.npy", arr))
    assert track.n_waypoints == 199
    assert track.length_m == pytest.approx(2 * np.pi * 5, rel=0.01)


def test_self_intersecting_rejected(tmp_path):
    t = np.linspace(0, 2 * np.pi, 300, endpoint=False)
    eight = np.stack([6 * np.sin(t), 3 * np.sin(2 * t)], axis=1)  # a figure of eight crosses itself
    arr = np.hstack([eight, eight + [0, 0.5], eight - [0, 0.5]])
    path = save(tmp_path, "eight.npy", arr)
    with pytest.raises(TrackError, match=r"eight\.npy.*intersects itself"):
        load_track(path)


# ---------------------------------------------------------------- geometry
def test_circle_length_and_width():
    track = track_from_array(circle(radius_m=5.0), name="circle")
    assert track.length_m == pytest.approx(2 * np.pi * 5.0, rel=0.005)
    assert track.width_m == pytest.approx(1.07, rel=1e-6)
    assert np.allclose(track.curvature_1pm, 1 / 5.0, rtol=0.01)  # counter-clockwise: left turns
    assert track.arc_m[0] == 0 and np.all(np.diff(track.arc_m) > 0)
    assert track.waypoints.shape == (200, 3, 2)


def test_closing_row_and_consecutive_duplicates_dropped():
    arr = circle(n=50)
    assert np.allclose(arr[0], arr[-1])
    doubled = np.insert(arr, 10, arr[10], axis=0)
    track = track_from_array(doubled, name="c")
    assert track.n_waypoints == 50


def test_reverse_flips_headings_keeps_length_and_start():
    track = track_from_array(circle(), name="circle")
    rev = track.reversed()
    assert rev.length_m == pytest.approx(track.length_m, rel=1e-9)
    assert np.allclose(rev.center[0], track.center[0])
    # the segment leaving the start now points the opposite way
    diff = (rev.headings_rad[0] - track.headings_rad[-1] - np.pi + np.pi) % (2 * np.pi) - np.pi
    assert abs(diff) < 1e-9
    assert np.allclose(rev.curvature_1pm, -track.curvature_1pm[np.r_[0, np.arange(199, 0, -1)]], atol=1e-6)
    assert rev.reversed().name == track.name


def test_load_track_reverse_flag_matches_reversed(tmp_path):
    path = save(tmp_path, "circ.npy", circle())
    assert np.allclose(load_track(path, reverse=True).center, load_track(path).reversed().center)


def test_track_is_frozen():
    track = track_from_array(circle(), name="c")
    with pytest.raises(dataclasses.FrozenInstanceError):
        track.name = "x"  # type: ignore[misc]
    with pytest.raises(ValueError):
        track.center[0, 0] = 1.0


def test_to_array_round_trips():
    track = track_from_array(circle(), name="c")
    again = track_from_array(track.to_array(), name="c")
    assert np.allclose(again.waypoints, track.waypoints)


# ---------------------------------------------------------------- the project's tracks
@pytest.mark.parametrize("name", sorted(PROJECT_SHAPES))
def test_project_tracks_load_by_name_at_deepracer_scale(name):
    track = load_track(name)
    assert track.source is not None and Path(track.source).resolve().is_relative_to(PROJECT_TRACKS_DIR.resolve())
    assert 20.0 <= track.length_m <= 70.0
    assert track.width_m == pytest.approx(1.07, abs=0.01)
    assert 1 / np.abs(track.curvature_1pm).max() > 1.0  # drivable: no corner tighter than 1 m radius


def test_project_tracks_match_their_generator():
    for name, fn in PROJECT_SHAPES.items():
        stored = np.load(PROJECT_TRACKS_DIR / f"{name}.npy")
        assert np.allclose(stored, track_array_from_centerline(fn())), name


def test_2022_tracks_load(shared_2022):
    expected = {"2022_march_open": (48.1, 1.07), "2022_march_pro": (76.8, 1.07), "2022_may_pro": (63.9, 1.07),
                "2022_reinvent_champ": (33.3, 0.95), "2022_summit_speedway_mini": (22.5, 1.07)}
    for name, (length, width) in expected.items():
        track = load_track(shared_2022 / f"{name}.npy")
        assert track.length_m == pytest.approx(length, abs=0.1), name
        assert track.width_m == pytest.approx(width, abs=0.01), name
    for path in sorted(shared_2022.glob("*.npy")):
        assert isinstance(load_track(path), Track)


def test_heading_of_start_segment_points_along_waypoints():
    track = load_track("rounded_rectangle")
    d = track.center[1] - track.center[0]
    assert track.headings_rad[0] == pytest.approx(math.atan2(d[1], d[0]))
