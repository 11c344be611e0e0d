"""Lines compared on tracks (racingline.lines.compare): every line drawn, driven laps in the legend."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from racingline import load_track
from racingline.lines.compare import compare_figure, compare_track, plot_compare
from racingline.lines.drive import drive_line
from racingline.lines.line import LineError
from racingline.lines.optimize import optimize_line


@pytest.fixture(scope="module")
def kidney_comparison(features_run):
    track = load_track("kidney")
    mine = optimize_line(track, "shortest")
    return compare_track(track, methods=("centerline", "mincurv"), lines=[("mine", mine)], model=features_run,
                         max_steps=40)


def test_every_line_and_the_agent_are_driven_and_labelled_with_their_laps(kidney_comparison):
    comp = kidney_comparison
    assert [p.name for p in comp.paths] == ["centerline", "mincurv", "mine", "agent"]
    track = load_track("kidney")
    for path, method in zip(comp.paths[:3], ("centerline", "mincurv", "shortest")):
        driven = drive_line(optimize_line(track, method), track)  # the lap the line controller drives
        assert path.lap_complete and path.lap_time_s == driven.lap_time_s
        assert path.label == f"{path.name}: lap {driven.lap_time_s:.2f} s (line controller)"
        assert path.closed and len(path.speeds_mps) == len(path.xy)
    agent = comp.paths[3]
    assert not agent.closed and not agent.lap_complete and agent.lap_time_s is None
    assert len(agent.xy) == 41 and agent.label.startswith("agent: no lap, ")


def test_the_figure_draws_one_legend_entry_per_line_and_a_panel_per_track(kidney_comparison, features_run, tmp_path):
    other = compare_track(load_track("s_bend"), reverse=True, methods=("mintime",))
    fig = compare_figure([kidney_comparison, other])
    kidney_ax, s_bend_ax = fig.get_axes()
    labels = [t.get_text() for t in kidney_ax.get_legend().get_texts()]
    assert labels == [p.label for p in kidney_comparison.paths]
    assert [t.get_text() for t in s_bend_ax.get_legend().get_texts()] == [other.paths[0].label]
    assert s_bend_ax.get_title().startswith("s_bend (reversed)")
    # Each path is drawn: a line through its points, the agent dashed.
    for path in kidney_comparison.paths:
        drawn = [ln for ln in kidney_ax.get_lines() if len(ln.get_xydata()) >= len(path.xy)
                 and np.allclose(ln.get_xydata()[:len(path.xy)], path.xy)]
        assert len(drawn) == 1
    # By speed: a panel per path, each titled with its lap, and one colour bar.
    fig = compare_figure([kidney_comparison, other], by_speed=True)
    axes = fig.get_axes()
    assert len(axes) == 4 + 1 + 1  # kidney's 4 paths, s_bend's 1, the colour bar
    assert axes[-1].get_ylabel() == "speed driven (m/s)"
    out = plot_compare([kidney_comparison, other], tmp_path / "compare.png")
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 500


def test_a_line_for_another_track_or_direction_is_refused():
    kidney = load_track("kidney")
    with pytest.raises(LineError, match="mine: made for kidney reversed, not for kidney"):
        compare_track(kidney, methods=(), lines=[("mine", optimize_line(kidney, "centerline", reverse=True))])
    with pytest.raises(LineError, match="no tracks"):
        compare_figure([])
