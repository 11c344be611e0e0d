"""Racing-line band and optimisers (racingline.lines.geometry, racingline.lines.optimize)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from racingline.lines import optimize
from racingline.lines.geometry import HALF_WIDTH_M, band, line_clearance_m, road_edges_m, widest_margin_m
from racingline.lines.line import LineError, load_line, save_line
from racingline.lines.optimize import METHODS, optimize_line
from racingline.sim.env import TRACK_SCALE, TRACK_WIDTH_SCALE
from racingline.sim.geometry import build_sim_track
from racingline.tracks.files import load_track, track_from_array
from racingline.tracks.generator import generate_track, resample_closed, rounded_rectangle, track_array_from_centerline

RING_RADIUS_M = 3.0
WIDTH_M = 1.07


def _ring():
    theta = np.linspace(0.0, 2.0 * np.pi, 600, endpoint=False)
    center = resample_closed(np.stack([RING_RADIUS_M * np.cos(theta), RING_RADIUS_M * np.sin(theta)], axis=1))
    return track_from_array(track_array_from_centerline(center, WIDTH_M), name="ring")


def _rounded_rectangle():
    return track_from_array(track_array_from_centerline(rounded_rectangle(), WIDTH_M), name="rounded_rectangle")


@pytest.fixture
def quick_k1999(monkeypatch):
    """Fewer K1999 sweeps: the band checks below hold after any number of sweeps (every update is clipped)."""
    monkeypatch.setattr(optimize, "K1999_LEVELS", ((4.0, 60), (2.0, 30), (1.0, 30)))


def _offsets(track, line, margin_m=0.05, spacing_m=0.1):
    center, normal, lo, hi = band(track, margin_m, spacing_m=spacing_m)
    assert len(center) == len(line.xy)
    return np.einsum("ij,ij->i", line.xy - center, normal), lo, hi


# --- the band --------------------------------------------------------------------------------------------


def test_the_band_is_the_simulated_road_less_the_car_and_the_margin():
    track = _ring()
    sim = build_sim_track(track, track_scale=TRACK_SCALE, track_width_scale=TRACK_WIDTH_SCALE)
    center, normal, lo, hi = band(track, 0.05)
    np.testing.assert_allclose(np.hypot(*normal.T), 1.0)
    # the road edges the simulator builds (its tiles), in metres
    left_sim = (center + normal * (hi + HALF_WIDTH_M + 0.05)[:, None] - sim.origin_m) * TRACK_SCALE
    right_sim = (center - normal * (hi + HALF_WIDTH_M + 0.05)[:, None] - sim.origin_m) * TRACK_SCALE
    np.testing.assert_allclose(left_sim, sim.tile_polys[:, 0], atol=1e-9)
    np.testing.assert_allclose(right_sim, sim.tile_polys[:, 1], atol=1e-9)
    # the simulated road is a quarter of the DeepRacer width each side of the centre: 0.2675 m for 1.07 m
    np.testing.assert_allclose(hi + HALF_WIDTH_M + 0.05, 0.5 * TRACK_WIDTH_SCALE * WIDTH_M, atol=1e-6)
    np.testing.assert_allclose(lo, -hi)
    # normals point left: the ring runs counter-clockwise, so left is toward its middle
    assert np.all(np.einsum("ij,ij->i", normal, center) < 0)
    # resampled stations keep the same road (between two tile points the cross segment is a little narrower)
    c2, n2, lo2, hi2 = band(track, 0.05, spacing_m=0.1)
    seg = np.hypot(*(np.roll(c2, -1, axis=0) - c2).T)
    assert abs(seg.mean() - 0.1) < 0.005 and seg.max() - seg.min() < 1e-3
    assert np.all(hi2 <= hi[0] + 1e-12) and np.all(hi2 > hi[0] - 1e-4)


def test_clearance_is_zero_on_the_band_edge_and_negative_outside():
    track = load_track("kidney")
    center, normal, lo, hi = band(track, 0.05, spacing_m=0.1)
    assert abs(line_clearance_m(track, center + hi[:, None] * normal, 0.05)) < 1e-9
    assert abs(line_clearance_m(track, center + lo[:, None] * normal, 0.05)) < 1e-9
    assert line_clearance_m(track, center, 0.05) == pytest.approx(hi.min(), abs=1e-9)
    assert line_clearance_m(track, center + (hi + 0.01)[:, None] * normal, 0.05) == pytest.approx(-0.01, abs=1e-6)
    # the car's side on the road edge: -margin
    assert line_clearance_m(track, center + (hi + 0.05)[:, None] * normal, 0.05) == pytest.approx(-0.05, abs=1e-6)
    # the tile points themselves, and points between two tile points 10 % of the road from the left edge
    left, right = road_edges_m(track)
    width = np.hypot(*(left - right).T)
    assert line_clearance_m(track, 0.5 * (left + right), 0.0) == pytest.approx(0.5 * width.min() - HALF_WIDTH_M)
    left_mid = 0.5 * (left + np.roll(left, -1, axis=0))
    right_mid = 0.5 * (right + np.roll(right, -1, axis=0))
    expected = 0.1 * np.hypot(*(left_mid - right_mid).T).min() - HALF_WIDTH_M
    assert line_clearance_m(track, 0.9 * left_mid + 0.1 * right_mid, 0.0) == pytest.approx(expected, abs=1e-9)


def test_a_margin_that_leaves_no_band_is_a_line_error_naming_the_widest():
    track = _ring()
    widest = widest_margin_m(track)
    assert widest == pytest.approx(0.25 * WIDTH_M - HALF_WIDTH_M, abs=1e-6)
    with pytest.raises(LineError, match=rf"margin_m=0\.3 .*ring.*widest allowed margin is {widest:.4f} m"):
        band(track, 0.3)
    with pytest.raises(LineError, match=r"margin_m=0\.3 .*ring.*widest"):
        optimize_line(track, "mincurv", margin_m=0.3)
    with pytest.raises(LineError, match="margin_m=-0.01"):
        optimize_line(track, "mincurv", margin_m=-0.01)
    with pytest.raises(LineError, match="unknown, expected one of centerline, mincurv"):
        optimize_line(track, "fastest")
    # the widest margin itself leaves a band of no width: every method drives the centre
    for method in ("mincurv", "shortest"):
        line = optimize_line(track, method, margin_m=widest)
        np.testing.assert_allclose(np.hypot(*line.xy.T), RING_RADIUS_M, atol=0.01)


# --- the optimisers --------------------------------------------------------------------------------------


def test_on_a_ring_mincurv_is_the_outer_circle_and_shortest_the_inner():
    track = _ring()
    center, _, _, hi = band(track, 0.05, spacing_m=0.1)
    r_center = np.hypot(*center.T).mean()
    r_mincurv = np.hypot(*optimize_line(track, "mincurv").xy.T)
    r_shortest = np.hypot(*optimize_line(track, "shortest").xy.T)
    np.testing.assert_allclose(r_mincurv, r_center + hi[0], atol=2e-3)
    np.testing.assert_allclose(r_shortest, r_center - hi[0], atol=2e-3)


def test_on_a_rounded_rectangle_mincurv_and_k1999_touch_the_inner_limit_at_each_apex(quick_k1999):
    track = _rounded_rectangle()  # 14 x 7 m, corners of radius 2 m, counter-clockwise: the inside is left
    center = band(track, 0.05, spacing_m=0.1)[0]
    hx, hy = 7.0 - 2.0, 3.5 - 2.0
    for method in ("mincurv", "k1999"):
        line = optimize_line(track, method)
        alpha, lo, hi = _offsets(track, line)
        for sx in (1, -1):
            for sy in (1, -1):
                corner = (center[:, 0] * sx > hx) & (center[:, 1] * sy > hy)
                phi = np.arctan2(center[:, 1] - sy * hy, center[:, 0] - sx * hx) - np.arctan2(sy, sx)
                apex = corner & (np.abs((phi + np.pi) % (2 * np.pi) - np.pi) < np.radians(12))
                assert apex.sum() >= 3
                assert (hi - alpha)[apex].min() < 1e-3, (method, sx, sy)
                # and only there: the corner starts and ends wide
                assert (hi - alpha)[corner & ~apex].max() > 0.1, (method, sx, sy)


@pytest.mark.parametrize("seed", range(8))
def test_every_method_stays_inside_the_band_on_generated_tracks(seed, quick_k1999):
    track = track_from_array(generate_track(seed), name=f"generated_{seed}")
    times = {}
    for method in METHODS:
        line = optimize_line(track, method, spacing_m=0.2)
        assert line_clearance_m(track, line.xy, 0.05) >= -1e-6, method
        assert line.method == method and line.track_name == track.name and not line.reverse
        assert line.speed_mps is not None and line.meta["lap_time_standing_s"] > line.meta["lap_time_flying_s"] > 0
        times[method] = line.meta["lap_time_flying_s"]
    assert times["mintime"] <= times["mincurv"] + 1e-9
    assert times["mincurv"] < times["centerline"]


def test_mintime_is_never_slower_than_mincurv_and_the_line_is_complete(tmp_path):
    track = load_track("s_bend")
    mincurv = optimize_line(track, "mincurv")
    mintime = optimize_line(track, "mintime")
    assert mintime.meta["mincurv_lap_time_flying_s"] == pytest.approx(mincurv.meta["lap_time_flying_s"], rel=1e-9)
    assert mintime.meta["lap_time_flying_s"] <= mincurv.meta["lap_time_flying_s"]
    for line in (mincurv, mintime):
        assert line.meta["solver"] == "clarabel" and line.meta["converged"] is True
        assert line.meta["band_clearance_m"] >= 0 and line.meta["n_points"] == len(line.xy)
        assert abs(line.meta["length_m"] - line.length_m) < 1e-9
        # points about spacing_m apart; point 0 at the track's waypoint 0
        assert 0.08 < line.seg_m.min() and line.seg_m.max() < 0.12
        assert np.hypot(*(line.xy[0] - track.center[0])) < 0.2
        json.dumps(line.meta)
        again = load_line(save_line(line, tmp_path / f"{line.method}.npz"))
        np.testing.assert_array_equal(again.xy, line.xy)
        assert again.meta == line.meta


def test_a_reversed_line_is_made_for_the_track_driven_the_other_way():
    track = load_track("kidney")
    line = optimize_line(track, "mincurv", reverse=True)
    assert line.reverse and line.track_name == "kidney"
    assert line_clearance_m(track.reversed(), line.xy, 0.05) >= -1e-6
    # the other direction: the loop turns the other way
    area = 0.5 * np.sum(line.xy[:, 0] * np.roll(line.xy[:, 1], -1) - np.roll(line.xy[:, 0], -1) * line.xy[:, 1])
    assert area < 0
    assert np.hypot(*(line.xy[0] - track.center[0])) < 0.2


def test_the_2022_tracks_lines_stay_inside_the_band(shared_2022, quick_k1999):
    for path in sorted(shared_2022.glob("2022_*.npy")):
        if path.stem.endswith(("_cw", "_ccw")):
            continue
        track = load_track(path)
        for method in METHODS:  # every method on every base track (coarser spacing keeps it quick)
            line = optimize_line(track, method, spacing_m=0.2)
            assert line_clearance_m(track, line.xy, 0.05) >= -1e-6, (path.stem, method)
    track = load_track(shared_2022 / "2022_october_pro_cw.npy")  # the tightest corner, 0.41 m radius
    for method in METHODS:
        line = optimize_line(track, method)
        assert line_clearance_m(track, line.xy, 0.05) >= -1e-6, method
