"""Each evaluation lap's gap to the best driven line (racingline.evaluate.gaps), from the episode's own start."""

from __future__ import annotations

import json

import pytest

from racingline import load_track
from racingline.evaluate.rollouts import evaluate
from racingline.lines.reference import best_line_lap, line_laps_cache_dir

from pilot_runs import pilot_run


def test_each_lap_is_compared_with_the_line_driven_from_its_own_start_and_direction(features_run, monkeypatch, env):
    run = pilot_run(features_run, monkeypatch)
    report = evaluate(run, ["kidney", "random"], max_steps=1500, start_waypoint=20, reverse=True, line_gap=True)
    kidney, random = report.tracks
    (ep,) = kidney.episodes
    assert ep.lap_complete and (ep.track_reversed, ep.start_waypoint) == (True, 20)
    line = best_line_lap(load_track("kidney"), reverse=True, start_waypoint=20)
    assert (ep.line_lap_time_s, ep.line_method) == (line.lap_time_s, line.method)
    assert ep.line_ratio == pytest.approx(ep.lap_time_s / line.lap_time_s)
    assert ep.line_ratio > 1.5  # the pilot holds 2 m/s; the line controller drives near the car's limits
    # The procedural track has no line; the summaries take the median over the laps that have one.
    assert all(e.line_lap_time_s is None and e.line_ratio is None for e in random.episodes)
    assert kidney.median_line_ratio == report.median_line_ratio == ep.line_ratio
    data = json.loads(json.dumps(report.to_dict()))
    assert data["summary"]["median_line_ratio"] == ep.line_ratio
    assert data["tracks"][0]["episodes"][0]["line_ratio"] == ep.line_ratio
    assert data["tracks"][0]["episodes"][0]["line_method"] == line.method
    # The line laps were cached: one file per method for this track, direction and start.
    assert len(list(line_laps_cache_dir().glob("kidney-rev-20-*.json"))) == 2


def test_without_line_gap_or_a_lap_there_is_no_ratio(features_run, env):
    report = evaluate(features_run, ["kidney"], max_steps=30, line_gap=True)  # the tiny run does not lap
    (ep,) = report.episodes
    assert not ep.lap_complete and ep.line_lap_time_s is None and report.median_line_ratio is None
    assert not line_laps_cache_dir().exists()  # no lap, no line driven
    report = evaluate(features_run, ["kidney"], max_steps=30)
    assert report.summary()["median_line_ratio"] is None
