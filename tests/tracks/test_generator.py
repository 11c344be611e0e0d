"""The procedural track generator: loadable, simple, drivable, sized as asked, deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from racingline.tracks.files import TrackError, load_track, save_track_array, track_from_array
from racingline.tracks.generator import (
    DEEPRACER_WIDTH_M,
    GEN_LENGTH_RANGE_M,
    PROJECT_SHAPES,
    generate_track,
    generation_min_radius_m,
    track_array_from_centerline,
)


def polylines_cross(a: np.ndarray, b: np.ndarray, same: bool) -> bool:
    """Whether closed polylines ``a`` and ``b`` have properly crossing segments (non-adjacent if same)."""
    p, r = a, np.roll(a, -1, axis=0) - a
    q, s = b, np.roll(b, -1, axis=0) - b
    rxs = r[:, None, 0] * s[None, :, 1] - r[:, None, 1] * s[None, :, 0]
    qp = q[None, :, :] - p[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (qp[..., 0] * s[None, :, 1] - qp[..., 1] * s[None, :, 0]) / rxs
        u = (qp[..., 0] * r[:, None, 1] - qp[..., 1] * r[:, None, 0]) / rxs
    hit = (np.abs(rxs) > 1e-12) & (t > 1e-9) & (t < 1 - 1e-9) & (u > 1e-9) & (u < 1 - 1e-9)
    if same:
        n = len(a)
        i, j = np.indices((n, n))
        gap = np.abs(i - j)
        hit &= (gap > 1) & (gap < n - 1)
    return bool(hit.any())


def test_200_seeds_load_and_are_drivable():
    lo, hi = GEN_LENGTH_RANGE_M
    lengths = []
    for seed in range(200):
        arr = generate_track(seed)
        assert arr.shape[1] == 6 and arr.dtype == np.float64
        assert np.array_equal(arr[0], arr[-1]), "first row must repeat as the last"
        track = track_from_array(arr, name=f"g{seed}")  # raises on self-intersection or bad borders
        assert lo <= track.length_m <= hi
        assert track.widths_m == pytest.approx(DEEPRACER_WIDTH_M)
        assert 1.0 / np.abs(track.curvature_1pm).max() >= generation_min_radius_m(DEEPRACER_WIDTH_M) - 1e-9
        assert 0.25 <= track.segment_lengths_m.min() and track.segment_lengths_m.max() <= 0.35
        assert not polylines_cross(track.inside, track.inside, same=True), seed
        assert not polylines_cross(track.outside, track.outside, same=True), seed
        # Road does not overlap itself: every inside-edge point is a road width from the outside edge.
        gap = np.hypot(*(track.inside[:, None, :] - track.outside[None, :, :]).transpose(2, 0, 1)).min()
        assert gap >= 0.95 * track.width_m, seed
        lengths.append(track.length_m)
    # The default range is really used, not one size for every seed.
    assert min(lengths) < lo + 10 and max(lengths) > hi - 10


@pytest.mark.parametrize("length_m, width_m", [(15.0, 0.6), (17.0, 2.0), (45.0, 1.07), (100.0, 0.6),
                                               (100.0, 2.0)])
def test_requested_length_and_width(length_m, width_m):
    for seed in range(8):
        track = track_from_array(generate_track(seed, length_m=length_m, width_m=width_m))
        assert track.length_m == pytest.approx(length_m, rel=1e-9)
        assert track.widths_m == pytest.approx(width_m)
        assert 1.0 / np.abs(track.curvature_1pm).max() >= generation_min_radius_m(width_m) - 1e-9
        assert not polylines_cross(track.inside, track.inside, same=True)


def test_min_radius_grows_with_width():
    assert generation_min_radius_m(0.6) == pytest.approx(0.5)
    assert generation_min_radius_m(2.0) == pytest.approx(1.02)


def test_deterministic_per_seed():
    assert np.array_equal(generate_track(7), generate_track(7))
    assert np.array_equal(generate_track(7, 30.0, 1.2), generate_track(7, 30.0, 1.2))
    assert not np.array_equal(generate_track(7), generate_track(8))
    assert generate_track(np.int64(7)).tobytes() == generate_track(7).tobytes()


def test_counter_clockwise_and_starts_on_a_straight():
    for seed in range(20):
        track = track_from_array(generate_track(seed))
        x, y = track.center.T
        assert np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) > 0
        assert abs(track.curvature_1pm[0]) <= np.median(np.abs(track.curvature_1pm)) + 1e-9


def test_saved_file_loads(tmp_path):
    path = save_track_array(generate_track(11, length_m=33.0), tmp_path / "gen.npy")
    track = load_track(path)
    assert track.name == "gen" and track.length_m == pytest.approx(33.0)


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        ({"seed": -1}, "seed=-1"),
        ({"seed": 1.5}, "seed=1.5"),
        ({"seed": True}, "seed=True"),
        ({"seed": 0, "length_m": 5.0}, "length_m=5: must be between 15 and 100"),
        ({"seed": 0, "length_m": 500.0}, "length_m=500"),
        ({"seed": 0, "length_m": float("nan")}, "length_m=nan"),
        ({"seed": 0, "width_m": 0.3}, "width_m=0.3: must be between 0.6 and 2"),
        ({"seed": 0, "width_m": 2.5}, "width_m=2.5"),
    ],
)
def test_bad_arguments(kwargs, problem):
    with pytest.raises(TrackError) as exc:
        generate_track(**kwargs)
    assert problem in str(exc.value)


def test_project_shapes_still_valid():
    for name, fn in PROJECT_SHAPES.items():
        track = track_from_array(track_array_from_centerline(fn()), name=name)
        assert track.n_waypoints > 30


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_pure_pursuit_laps_generated_tracks(seed):
    from racingline import DeepRacerEnv
    from racingline.lines.controllers import PurePursuit
    from racingline.tracks.files import track_from_array

    track = track_from_array(generate_track(seed), name=f"generated_{seed}")
    env = DeepRacerEnv(track, obs="features", continuous=True, frame_skip=2, max_episode_steps=4000)
    env.reset(seed=0)
    driver = PurePursuit(lookahead_m=0.8, target_speed_mps=1.2)
    while True:
        _, _, terminated, truncated, info = env.step(driver.continuous(env))
        if terminated or truncated:
            break
    assert info["lap_complete"] and info["progress"] == pytest.approx(100.0)
