"""Line following (racingline.lines.drive): clean laps near the estimate, deviation, result fields, options."""

from __future__ import annotations

import math

import numpy as np
import pytest

from racingline import DeepRacerEnv, load_track
from racingline.lines.drive import (
    DEFAULT_SPEED_SCALE,
    MAX_STEER_RAD,
    DriveResult,
    LineFollower,
    drive_line,
    line_deviation_m,
)
from racingline.lines.limits import load_limits
from racingline.lines.line import LineError, RacingLine
from racingline.sim.env import FPS

#: The targets the yardstick is held to: no off-track step, lap within 10 % of its profile's estimate.
RATIO_MAX = 1.10
#: Once on the line (after the start from the centerline), the car stays this close to it (metres).
SETTLED_DEV_MAX_M = 0.08


def centerline(track, spacing_m: float = 0.1, reverse: bool = False) -> RacingLine:
    """The track's centerline resampled every ~``spacing_m`` (no speed profile), in the driving direction."""
    drive = track.reversed() if reverse else track
    xy = drive.center
    seg = np.hypot(*(np.roll(xy, -1, axis=0) - xy).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    n = int(round(s[-1] / spacing_m))
    t = np.linspace(0.0, s[-1], n, endpoint=False)
    closed = np.concatenate([xy, xy[:1]])
    pts = np.stack([np.interp(t, s, closed[:, 0]), np.interp(t, s, closed[:, 1])], axis=1)
    return RacingLine(pts, track.name, "centerline", 0.0, reverse)


def assert_clean_lap(result: DriveResult, ratio_max: float = RATIO_MAX) -> None:
    assert result.lap_complete, f"no lap: {result.progress:.1f}% after {result.steps} steps"
    assert result.off_track_steps == 0
    assert result.lap_time_estimate_s is not None
    assert result.ratio is not None and 0.97 <= result.ratio <= ratio_max, result.ratio
    assert result.max_dev_settled_m < SETTLED_DEV_MAX_M
    assert result.mean_dev_m < 0.03


@pytest.mark.parametrize("name", ["kidney", "s_bend", "rounded_rectangle"])
def test_the_centerline_laps_the_project_tracks_cleanly_near_the_estimate(name):
    track = load_track(name)
    result = drive_line(centerline(track), track)
    assert_clean_lap(result)
    # A centerline driven from the centerline start: the car never strays far, start included.
    assert result.max_dev_m < SETTLED_DEV_MAX_M


def test_result_fields_are_consistent():
    track = load_track("kidney")
    line = centerline(track)
    result = drive_line(line, track)
    t = result.steps
    assert result.positions_m.shape == (t, 2) and result.speeds_mps.shape == (t,)
    assert result.lap_time_s == pytest.approx(t / FPS)  # frame_skip 1: one physics frame a step
    assert result.progress == pytest.approx(100.0)
    assert result.standing_start is True
    # The line driven is the line with the profile at the default speed scale, and its estimate is the one used.
    driven = result.line
    assert driven is not None and driven.speed_mps is not None
    assert np.array_equal(driven.xy, line.xy) and driven.track_name == line.track_name
    assert driven.meta["speed_scale"] == DEFAULT_SPEED_SCALE
    assert result.lap_time_estimate_s == driven.meta["lap_time_standing_s"]
    assert result.ratio == pytest.approx(result.lap_time_s / result.lap_time_estimate_s)
    # Deviation: recomputed from the positions; the mean below the max, the settled max below the max.
    dev = line_deviation_m(driven.xy, result.positions_m)
    assert result.max_dev_m == pytest.approx(dev.max()) and result.mean_dev_m == pytest.approx(dev.mean())
    assert 0.0 <= result.mean_dev_m <= result.max_dev_settled_m <= result.max_dev_m
    # Positions are in the track file's metres: the lap ends back near waypoint 0, at speed.
    assert np.hypot(*(result.positions_m[-1] - track.center[0])) < 0.3
    assert result.speeds_mps[0] < 0.2 and result.speeds_mps.max() > 2.0


def test_an_optimised_line_laps_cleanly_in_both_directions():
    from racingline.lines.optimize import optimize_line

    track = load_track("s_bend")
    for reverse in (False, True):
        line = optimize_line(track, "mincurv", reverse=reverse)
        result = drive_line(line, track)
        assert_clean_lap(result)
        # The optimised line is faster than the centerline, driven and estimated.
        centre = drive_line(centerline(track, reverse=reverse), track)
        assert result.lap_time_s < centre.lap_time_s
        assert result.lap_time_estimate_s < centre.lap_time_estimate_s


def test_speed_scale_none_drives_the_lines_own_profile():
    from racingline.lines.speed import speed_profile

    track = load_track("rounded_rectangle")
    line = centerline(track)
    prof = speed_profile(line.xy, load_limits(), speed_scale=0.8)
    own = line.with_speed(prof.speed_mps, lap_time_standing_s=prof.lap_time_standing_s,
                          lap_time_flying_s=prof.lap_time_flying_s)
    result = drive_line(own, track, speed_scale=None)
    assert np.array_equal(result.line.speed_mps, own.speed_mps)
    assert result.lap_time_estimate_s == prof.lap_time_standing_s
    assert_clean_lap(result)
    # A slower profile gives a slower lap than the default one.
    assert result.lap_time_s > drive_line(line, track).lap_time_s
    with pytest.raises(LineError, match="speed_scale"):
        LineFollower(line, speed_scale=0.0)


def test_a_flying_lap_is_timed_after_a_run_up_lap_and_matches_the_flying_estimate():
    track = load_track("kidney")
    result = drive_line(centerline(track), track, standing_start=False)
    assert result.standing_start is False
    assert result.lap_time_estimate_s == result.line.meta["lap_time_flying_s"]
    assert_clean_lap(result, ratio_max=1.05)
    assert result.steps > len(result.positions_m)  # the run-up lap is driven but not recorded
    assert result.speeds_mps[0] > 1.0  # the timed lap starts at speed


def test_frame_skip_2_still_laps_cleanly_and_on_frame_sees_every_step():
    track = load_track("kidney")
    seen = []
    result = drive_line(centerline(track), track, frame_skip=2, on_frame=seen.append)
    assert_clean_lap(result)
    assert len(seen) == result.steps == len(result.positions_m)
    assert seen[-1].lap_complete and seen[-1].time_s == pytest.approx(result.lap_time_s)


def test_max_steps_stops_the_drive_without_a_lap():
    track = load_track("kidney")
    result = drive_line(centerline(track), track, max_steps=40)
    assert not result.lap_complete and result.ratio is None
    assert result.steps == 40 and len(result.positions_m) == 40
    assert 0.0 < result.progress < 20.0
    assert result.lap_time_s == pytest.approx(40 / FPS)


def test_a_line_off_the_road_counts_off_track_steps():
    track = load_track("rounded_rectangle")
    line = centerline(track)
    normal = np.roll(line.xy, -1, axis=0) - np.roll(line.xy, 1, axis=0)
    normal = np.stack([-normal[:, 1], normal[:, 0]], axis=1) / np.hypot(*normal.T)[:, None]
    outside = RacingLine(line.xy + 0.6 * normal, track.name, "centerline")  # 0.6 m left: on the grass
    result = drive_line(outside, track, max_steps=300)
    assert result.off_track_steps > 0
    assert result.max_dev_settled_m < SETTLED_DEV_MAX_M  # it follows the line all the same


def test_the_follower_reads_a_state_or_an_env_and_acts_within_bounds():
    track = load_track("kidney")
    env = DeepRacerEnv(track, obs="features", continuous=True)
    env.reset(seed=0)
    follower = LineFollower(centerline(track))
    a = follower.continuous(env)
    b = follower.continuous(env.state)
    assert a.shape == (3,) and a.dtype == np.float32 and np.array_equal(a, b)
    for _ in range(200):
        action = follower.continuous(env.state)
        assert abs(action[0]) <= MAX_STEER_RAD + 1e-6 and 0.0 <= action[1] <= 1.0 and 0.0 <= action[2] <= 1.0
        assert action[1] == 0.0 or action[2] == 0.0  # never gas and brake at once
        env.step(action)
    assert follower.index is not None and follower.station_m > 3.0 and abs(follower.offset_m) < 0.05
    # A follower that lost its place (far from the car) finds the car again on the whole line.
    here = follower.index
    follower.index = (here + follower.n // 2) % follower.n
    follower.continuous(env.state)
    assert abs(follower.index - here) <= 2 and abs(follower.offset_m) < 0.05
    follower.reset()
    assert follower.index is None
    env.close()


def test_line_deviation_is_the_distance_to_the_closed_polyline():
    square = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]])
    pts = np.array([[1.0, 0.0], [1.0, 0.5], [1.0, -0.25], [3.0, 3.0], [0.0, 1.0], [-0.5, 1.5], [1.0, 1.0]])
    expect = [0.0, 0.5, 0.25, math.sqrt(2.0), 0.0, 0.5, 1.0]
    assert np.allclose(line_deviation_m(square, pts), expect)
    assert np.allclose(line_deviation_m(square, pts, chunk=2), expect)
    assert line_deviation_m(square, np.zeros((0, 2))).shape == (0,)


def test_a_2022_track_is_lapped_cleanly_on_its_mintime_line(shared_2022):
    from racingline.lines.optimize import optimize_line

    track = load_track(shared_2022 / "2022_october_pro.npy")  # the tightest corner of the 2022 tracks
    result = drive_line(optimize_line(track, "mintime"), track)
    assert_clean_lap(result)


def test_a_lap_from_another_start_waypoint_starts_there_and_keeps_its_estimate():
    from racingline.lines.optimize import optimize_line

    track = load_track("s_bend")
    line = optimize_line(track, "mincurv", reverse=True)
    drive = track.reversed()
    result = drive_line(line, track, start_waypoint=40)
    assert_clean_lap(result)
    # The car starts at waypoint 40 of the direction driven (the env's start), and the lap ends back there.
    assert np.hypot(*(result.positions_m[0] - drive.center[40])) < 0.1
    assert np.hypot(*(result.positions_m[-1] - drive.center[40])) < 0.4
    # The line driven is the same loop begun at its point nearest that waypoint; its standing estimate is
    # from there (not the waypoint-0 one), its flying estimate unchanged.
    driven = result.line
    i = int(np.argmin(np.hypot(*(line.xy - drive.center[40]).T)))
    assert np.array_equal(driven.xy, np.roll(line.xy, -i, axis=0)) and driven.meta["start_waypoint"] == 40
    at_zero = LineFollower(line).line  # the same profile from waypoint 0
    assert driven.meta["lap_time_flying_s"] == pytest.approx(at_zero.meta["lap_time_flying_s"], rel=1e-6)
    assert driven.meta["lap_time_standing_s"] != at_zero.meta["lap_time_standing_s"]
    assert result.lap_time_estimate_s == driven.meta["lap_time_standing_s"]
    # The line's own profile has no standing estimate from another start; a bad start is refused.
    own = drive_line(line, track, start_waypoint=40, speed_scale=None)
    assert own.lap_complete and own.lap_time_estimate_s is None
    with pytest.raises(ValueError, match="start_waypoint"):
        drive_line(line, track, start_waypoint=-1)
