"""``racingline line extract``, ``line compare`` and eval's line gap, end to end through Typer's CliRunner.

The tiny trained run (``features_run``) never laps; where a lap is needed, the run's model is a scripted pilot
(tests/pilot_runs.py) handed to the command by the run loader, which still drives the real simulator through
the run's own evaluation stack.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from racingline.cli import app
from racingline.lines.line import load_line, save_line
from racingline.lines.optimize import optimize_line
from racingline.tracks.files import load_track

from pilot_runs import pilot_run


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "220"})


def assert_clean_error(result, *fragments: str, code: int = 1) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def piloted(features_run, monkeypatch):
    """``features_run`` loads with a lapping pilot for its model (in every command that loads it)."""
    import racingline.train.runs as runs

    pilot = pilot_run(features_run, monkeypatch)
    real = runs.load_run
    monkeypatch.setattr(runs, "load_run", lambda path, *a, **k: pilot if str(path) == str(features_run)
                        else real(path, *a, **k))
    return features_run


# ------------------------------------------------------------------------------------------- extract
def test_extract_writes_the_agents_line_which_exports(piloted, env):
    result = invoke("line", "extract", "--model", piloted, "--track", "kidney", "--reverse", "--max-steps", 1500,
                    "--out", "agent.npz")
    assert result.exit_code == 0, result.output
    line = load_line(env / "agent.npz")
    assert (line.method, line.track_name, line.reverse) == ("extracted", "kidney", True)
    assert f"lap:         {line.meta['lap_time_driven_s']:.2f} s driven (standing start at waypoint 0; 1 of 1" \
        in result.stdout
    assert result.stdout.startswith("wrote agent.npz: kidney, reversed, extracted, ")
    exported = invoke("line", "export", "agent.npz", "--format", "npy")
    assert exported.exit_code == 0, exported.output
    assert np.allclose(np.load(env / "agent.npy")[:-1], line.xy)


def test_extract_without_a_clean_lap_or_with_bad_inputs_is_one_line(features_run, env):
    assert_clean_error(invoke("line", "extract", "-m", features_run, "-t", "kidney", "--max-steps", 15, "--out", "a.npz"),
                       "no clean lap on kidney in 1 episode(s): best progress", "(truncated after 15 steps)")
    assert_clean_error(invoke("line", "extract", "-m", features_run, "-t", "no_such_track", "--out", "a.npz"),
                       "no_such_track")
    assert_clean_error(invoke("line", "extract", "-m", env / "missing_run", "-t", "kidney", "--out", "a.npz"),
                       "missing_run")
    assert_clean_error(invoke("line", "extract", "-m", features_run, "-t", "kidney", "--episodes", 0, "--out", "a.npz"),
                       "--episodes", code=2)
    assert list(env.iterdir()) == []  # nothing written


# ------------------------------------------------------------------------------------------- compare
def test_compare_draws_a_grid_with_every_line(features_run, env):
    kidney = load_track("kidney")
    save_line(optimize_line(kidney, "shortest"), env / "short.npz")
    result = invoke("line", "compare", "-t", "kidney", "-t", "s_bend", "--methods", "mincurv",
                    "--line", "short.npz", "--model", features_run, "--max-steps", 20, "--out", "cmp.png")
    assert result.exit_code == 0, result.output
    with Image.open(env / "cmp.png") as im:
        assert im.format == "PNG"
    out = result.stdout.splitlines()
    assert out[0] == "wrote cmp.png: 2 track(s)"
    kidney_rows = out[out.index("  kidney: driven laps from a standing start at waypoint 0") + 1:][:3]
    assert [r.split(":")[0].strip() for r in kidney_rows] == ["mincurv", "short", "agent"]
    assert "lap " in kidney_rows[1] and "(line controller)" in kidney_rows[1]
    assert kidney_rows[2].startswith("    agent: no lap, ")


def test_compare_bad_inputs_are_one_line(env):
    save_line(optimize_line(load_track("kidney"), "centerline", reverse=True), env / "rev.npz")
    assert_clean_error(invoke("line", "compare", "-t", "kidney", "--methods", "bogus", "--out", "c.png"),
                       "--methods 'bogus'", code=2)
    assert_clean_error(invoke("line", "compare", "-t", "kidney", "--methods", "", "--out", "c.png"),
                       "nothing to draw", code=2)
    assert_clean_error(invoke("line", "compare", "-t", "kidney", "--line", "rev.npz", "--out", "c.png"),
                       "rev.npz: made for kidney reversed, which is not among the tracks compared (kidney)")
    assert_clean_error(invoke("line", "compare", "-t", "kidney", "--out", "c.xyz"), "c.xyz", "unsupported")
    assert_clean_error(invoke("line", "compare", "-t", "kidnee", "--out", "c.png"), "kidnee")
    assert not (env / "c.png").exists()


# ------------------------------------------------------------------------------------------- eval
def test_eval_reports_each_laps_ratio_to_the_best_line(piloted, env):
    result = invoke("eval", "-m", piloted, "-t", "kidney", "--start-waypoint", 10, "--max-steps", 1500,
                    "--json", "e.json")
    assert result.exit_code == 0, result.output
    data = json.loads((env / "e.json").read_text())
    ep = data["tracks"][0]["episodes"][0]
    assert ep["lap_complete"] and ep["start_waypoint"] == 10
    assert ep["line_ratio"] == pytest.approx(ep["lap_time_s"] / ep["line_lap_time_s"])
    assert data["summary"]["median_line_ratio"] == ep["line_ratio"]
    assert "x line" in result.stdout and f"{ep['line_ratio']:.3f}" in result.stdout
    assert f"{ep['line_lap_time_s']:.2f}" in result.stdout
    # --no-line-gap: no line driven, no columns.
    result = invoke("eval", "-m", piloted, "-t", "kidney", "--max-steps", 1500, "--no-line-gap", "--json", "f.json")
    assert result.exit_code == 0, result.output
    assert "x line" not in result.stdout
    data = json.loads((env / "f.json").read_text())
    assert data["tracks"][0]["episodes"][0]["line_ratio"] is None and data["summary"]["median_line_ratio"] is None
