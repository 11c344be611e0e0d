"""The reference lap (racingline.lines.reference): the best line driven from a given start, cached on disk."""

from __future__ import annotations

import json

import pytest

from racingline import load_track
from racingline.lines.drive import drive_line
from racingline.lines.line import LineError
from racingline.lines.optimize import optimize_line
from racingline.lines.reference import best_line_lap, driven_line_lap, line_laps_cache_dir


def test_the_best_line_lap_is_the_fastest_method_driven_from_that_start(env):
    track = load_track("s_bend")
    best = best_line_lap(track, reverse=True, start_waypoint=30)
    assert best is not None and best.clean and best.method in ("mincurv", "mintime")
    assert (best.track, best.reverse, best.start_waypoint) == ("s_bend", True, 30)
    # The same laps, driven here from the same start and direction.
    laps = {m: drive_line(optimize_line(track, m, reverse=True), track, start_waypoint=30) for m in ("mincurv", "mintime")}
    assert all(r.lap_complete and r.off_track_steps == 0 for r in laps.values())
    assert best.lap_time_s == min(r.lap_time_s for r in laps.values())
    assert best.lap_time_s == laps[best.method].lap_time_s


def test_driven_laps_are_cached_per_track_content_direction_and_start(env):
    track = load_track("kidney")
    first = driven_line_lap(track, "mincurv", start_waypoint=12)
    (cached,) = list(line_laps_cache_dir().glob("*.json"))
    assert cached.parent == env / "cache" / "racingline" / "line_laps"
    assert json.loads(cached.read_text())["lap_time_s"] == first.lap_time_s
    # A repeated call reads the file (shown by editing it), a track's waypoint + n is the same start.
    data = json.loads(cached.read_text())
    cached.write_text(json.dumps({**data, "lap_time_s": 99.0}))
    assert driven_line_lap(track, "mincurv", start_waypoint=12).lap_time_s == 99.0
    assert driven_line_lap(track, "mincurv", start_waypoint=12 + track.n_waypoints).lap_time_s == 99.0
    assert driven_line_lap(track, "mincurv", start_waypoint=12, cache=False).lap_time_s == first.lap_time_s
    # Another direction, or the same name with other waypoints, is driven again (a file each).
    driven_line_lap(track, "mincurv", reverse=True, start_waypoint=12)
    moved = type(track)(name="kidney", waypoints=track.waypoints * 1.01)
    assert driven_line_lap(moved, "mincurv", start_waypoint=12).lap_time_s != 99.0
    assert len(list(line_laps_cache_dir().glob("*.json"))) == 3
    # A broken cache file is driven again and replaced.
    cached.write_text("{not json")
    assert driven_line_lap(track, "mincurv", start_waypoint=12).lap_time_s == first.lap_time_s


def test_a_bad_method_is_a_line_error(env):
    with pytest.raises(LineError, match="bogus"):
        driven_line_lap(load_track("kidney"), "bogus")
