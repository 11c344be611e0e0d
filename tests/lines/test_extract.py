"""Racing lines from driven laps (racingline.lines.extract): the line matches the lap, exports, and the agent's
fastest clean lap is the one taken."""

from __future__ import annotations

import json

import numpy as np
import pytest

from racingline import load_track
from racingline.lines.drive import SETTLE_M, drive_line, line_deviation_m
from racingline.lines.export import FORMATS, export_line
from racingline.lines.extract import MIN_LINE_SPEED_MPS, best_clean_lap, extract_from_model, extract_line
from racingline.lines.line import LineError, load_line, save_line
from racingline.lines.optimize import optimize_line

from pilot_runs import pilot_run

#: A lap's positions lie this close to the line extracted from them (metres): the smoothing moves a 1 m
#: corner in by ~1 cm; the controller's lap is smooth to begin with.
FIT_M = 0.02


@pytest.fixture(scope="module")
def s_bend_laps():
    """The mincurv line of s_bend driven the other way by the line controller: a standing and a flying lap."""
    track = load_track("s_bend")
    line = optimize_line(track, "mincurv", reverse=True)
    return track, line, drive_line(line, track), drive_line(line, track, standing_start=False)


def _travelled_m(positions: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(positions, axis=0).T))])


def test_the_line_extracted_from_a_controller_lap_matches_the_driven_positions(s_bend_laps):
    track, optimised, standing, flying = s_bend_laps
    # A flying lap: every position within FIT_M of the line, and every line point within FIT_M of the path.
    line = extract_line(flying.positions_m, flying.speeds_mps, track, reverse=True, lap_time_s=flying.lap_time_s)
    assert line.method == "extracted" and line.track_name == "s_bend" and line.reverse is True
    assert line_deviation_m(line.xy, flying.positions_m).max() < FIT_M
    assert line_deviation_m(flying.positions_m, line.xy).max() < FIT_M
    assert line.meta["fit_max_m"] < FIT_M and line.meta["lap_time_driven_s"] == flying.lap_time_s
    # Evenly spaced points, point 0 at waypoint 0 of the direction driven, the loop's length the path's.
    assert np.allclose(line.seg_m, 0.1, atol=0.01)
    drive = track.reversed()
    assert np.hypot(*(line.xy[0] - drive.center[0])) < 0.3
    assert line.length_m == pytest.approx(optimised.length_m, rel=0.01)
    # The driven speeds, at the nearest position.
    nearest = np.argmin(((line.xy[:, None] - flying.positions_m[None]) ** 2).sum(axis=2), axis=1)
    assert np.allclose(line.speed_mps, flying.speeds_mps[nearest], atol=0.1)
    # A standing start: the run-up from the centerline is bridged, the rest of the lap matches.
    line = extract_line(standing.positions_m, standing.speeds_mps, track, reverse=True)
    dev = line_deviation_m(line.xy, standing.positions_m)
    assert dev[_travelled_m(standing.positions_m) > SETTLE_M].max() < FIT_M
    assert line_deviation_m(optimised.xy, line.xy).max() < FIT_M  # the controller drove the line it was given
    assert line.speed_mps.min() >= MIN_LINE_SPEED_MPS and line.speed_mps.max() > 3.0
    assert 0.0 < line.margin_m <= 0.06  # the optimised line keeps 0.05 m


def test_an_extracted_line_saves_and_exports_in_every_format(s_bend_laps, tmp_path):
    track, _, _, flying = s_bend_laps
    line = extract_line(flying.positions_m, flying.speeds_mps, track, reverse=True, lap_time_s=flying.lap_time_s,
                        meta={"model": "runs/x"})
    back = load_line(save_line(line, tmp_path / "agent.npz"))
    assert np.array_equal(back.xy, line.xy) and np.array_equal(back.speed_mps, line.speed_mps)
    assert back.method == "extracted" and back.meta["model"] == "runs/x"
    for fmt in FORMATS:
        export_line(back, fmt, tmp_path / f"agent.{fmt}")
    assert np.load(tmp_path / "agent.npy").shape == (len(line.xy) + 1, 2)
    text = (tmp_path / "agent.py").read_text()
    assert f"driven lap {flying.lap_time_s:.2f} s" in text
    assert json.loads((tmp_path / "agent.model_metadata.json").read_text())["action_space"]


def test_bad_positions_are_one_line_errors():
    track = load_track("kidney")
    lap = drive_line(optimize_line(track, "centerline"), track)
    with pytest.raises(LineError, match=r"do not go all the way round kidney: they cover 4\d\.\d% of it"):
        half = len(lap.positions_m) // 2
        extract_line(lap.positions_m[:half], lap.speeds_mps[:half], track)
    with pytest.raises(LineError, match=r"positions must be \(T, 2\)"):
        extract_line(lap.positions_m, lap.speeds_mps[:-1], track)
    bad = lap.positions_m.copy()
    bad[3] = np.nan
    with pytest.raises(LineError, match="finite"):
        extract_line(bad, lap.speeds_mps, track)
    with pytest.raises(LineError, match="smooth_m=-1"):
        extract_line(lap.positions_m, lap.speeds_mps, track, smooth_m=-1)


def test_the_fastest_clean_lap_of_a_driving_model_is_extracted(features_run, monkeypatch):
    run = pilot_run(features_run, monkeypatch)
    line, best, rollouts = extract_from_model(run, "kidney", episodes=2, start_waypoint=5, max_steps=1500)
    # Two episodes, their starts spread round the track; both lap cleanly, the faster is taken.
    track = load_track("kidney")
    assert [r.result.start_waypoint for r in rollouts] == [5, 5 + track.n_waypoints // 2]
    assert all(r.result.lap_complete and r.result.off_track_count == 0 for r in rollouts)
    assert best is min(rollouts, key=lambda r: r.result.lap_time_s) is best_clean_lap(rollouts)
    assert line.meta["lap_time_driven_s"] == best.result.lap_time_s
    assert line.meta["start_waypoint"] == best.result.start_waypoint
    path = np.asarray(best.path_m)
    assert line_deviation_m(line.xy, path)[_travelled_m(path) > SETTLE_M].max() < 0.05  # the pilot weaves a little
    assert line.speed_mps.max() == pytest.approx(max(best.speeds_mps), abs=0.1)


def test_no_clean_lap_is_an_error_giving_the_best_progress(features_run):
    with pytest.raises(LineError, match=r"no clean lap on s_bend reversed in 1 episode\(s\): best progress "
                                        r"\d+\.\d% \(truncated after 20 steps\)"):
        extract_from_model(features_run, "s_bend", reverse=True, max_steps=20)
