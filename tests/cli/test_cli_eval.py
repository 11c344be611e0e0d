"""``racingline eval``, ``plot-trajectories`` and ``gif`` end to end through Typer's CliRunner."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from racingline.cli import app
from racingline.tracks.files import PROJECT_TRACKS_DIR

from helpers import copy_run

TRACK = "rounded_rectangle"


@pytest.fixture
def tiny_run(features_run) -> Path:
    """The tiny feature-observation run shared with test_evaluation (conftest ``features_run``)."""
    return features_run


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    """An empty working folder (no ./runs, no ./tracks)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def assert_clean_error(result, *fragments: str) -> None:
    """Non-zero exit, exactly one line on stderr naming the input, no traceback."""
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# ------------------------------------------------------------------------------------------- eval
def test_eval_prints_table_and_writes_json(tiny_run, work):
    out = work / "out" / "eval.json"
    result = invoke("eval", "--model", tiny_run, "--track", TRACK, "--track", "kidney", "--max-steps", 30,
                    "--json", out)
    assert result.exit_code == 0, result.output
    for fragment in ("rounded_rectangle", "kidney", "all", "0/2", "prog %"):
        assert fragment in result.stdout
    data = json.loads(out.read_text())
    assert data["model"] == str(tiny_run / "model.zip") and data["deterministic"] is True
    assert data["max_steps"] == 30
    assert [t["track"] for t in data["tracks"]] == [TRACK, "kidney"]
    for t in data["tracks"]:
        assert isinstance(t["length_m"], float) and isinstance(t["laps_completed"], int)
        assert isinstance(t["mean_progress_pct"], float) and isinstance(t["off_track_count"], int)
        (ep,) = t["episodes"]
        assert ep["lap_complete"] is False and ep["lap_steps"] is None and ep["lap_time_s"] is None
        assert ep["steps"] == 30 and isinstance(ep["time_s"], float)
        assert isinstance(ep["progress_pct"], float) and 0.0 < ep["progress_pct"] < 100.0
        assert isinstance(ep["off_track_count"], int) and isinstance(ep["reversed"], bool)
        assert isinstance(ep["total_reward"], float)
    summary = data["summary"]
    assert (summary["laps_completed"], summary["laps_attempted"]) == (0, 2)
    assert summary["median_lap_time_s"] is None and isinstance(summary["mean_progress_pct"], float)


def test_eval_defaults_to_newest_run_and_its_eval_tracks(tiny_run, work):
    shutil.copytree(tiny_run, work / "runs" / "tiny")
    result = invoke("eval", "--max-steps", 10, "--episodes", 2, "--json", "e.json")
    assert result.exit_code == 0, result.output
    data = json.loads((work / "e.json").read_text())
    assert data["run_dir"] == str(Path("runs") / "tiny")
    assert [t["track"] for t in data["tracks"]] == [TRACK, "kidney"]  # the run config's eval.tracks
    assert [t["episodes_run"] for t in data["tracks"]] == [2, 2]


def test_eval_tracks_glob_start_reverse_and_stochastic(tiny_run, work):
    pattern = str(PROJECT_TRACKS_DIR / "*_b*.npy")  # s_bend
    result = invoke("eval", "-m", tiny_run, "--tracks", pattern, "--max-steps", 10, "--start-waypoint", 7,
                    "--reverse", "--stochastic", "--json", "e.json")
    assert result.exit_code == 0, result.output
    data = json.loads((work / "e.json").read_text())
    assert data["deterministic"] is False
    (track,) = data["tracks"]
    assert track["track"] == "s_bend"
    ep = track["episodes"][0]
    assert ep["start_waypoint"] == 7 and ep["track_reversed"] is True


# ------------------------------------------------------------------------------------------- pictures
def test_plot_trajectories_writes_png(tiny_run, work):
    out = work / "paths.png"
    result = invoke("plot-trajectories", "-m", tiny_run, "-t", TRACK, "-t", "s_bend", "--max-steps", 40,
                    "--out", out)
    assert result.exit_code == 0, result.output
    assert "paths.png" in result.stdout and "2 tracks" in result.stdout
    with Image.open(out) as im:
        im.load()
        assert im.format == "PNG" and im.size[0] > 200


def test_plot_trajectories_defaults(tiny_run, work):
    run = copy_run(tiny_run, work / "runs" / "tiny")
    result = invoke("plot-trajectories", "--max-steps", 5)  # newest run, every project track
    assert result.exit_code == 0, result.output
    assert f"{len(list(PROJECT_TRACKS_DIR.glob('*.npy')))} tracks" in result.stdout
    with Image.open(run / "trajectories.png") as im:
        im.load()


def test_gif_writes_several_frames(tiny_run, work):
    result = invoke("gif", "--model", tiny_run, "--track", "kidney", "--out", "lap.gif", "--steps", 8, "--fps", 25)
    assert result.exit_code == 0, result.output
    assert "9 frames" in result.stdout
    with Image.open(work / "lap.gif") as im:
        assert im.format == "GIF" and im.n_frames == 9 and im.size == (600, 400)
        assert im.info["duration"] == 40
        im.seek(8)
        assert np.asarray(im.convert("RGB")).std() > 0  # a real picture, not a blank frame


def test_set_overrides_the_run_config_for_this_command(tiny_run, work):
    result = invoke("eval", "-m", tiny_run, "-t", "kidney", "--set", "env.max_episode_steps=7",
                    "--set", "eval.episodes=2", "--json", "e.json")
    assert result.exit_code == 0, result.output
    episodes = json.loads((work / "e.json").read_text())["tracks"][0]["episodes"]
    assert [e["steps"] for e in episodes] == [7, 7] and {e["end"] for e in episodes} == {"truncated"}
    assert "max_episode_steps: 300" in (tiny_run / "config.yaml").read_text()  # the run itself is unchanged
    result = invoke("gif", "-m", tiny_run, "-t", "kidney", "--set", "env.max_episode_steps=3", "--out", "g.gif")
    assert result.exit_code == 0, result.output
    assert "4 frames" in result.stdout


# ------------------------------------------------------------------------------------------- errors
def test_missing_track(tiny_run, work):
    result = invoke("eval", "-m", tiny_run, "--track", "no_such_track", "--json", "e.json")
    assert_clean_error(result, "no_such_track", "no such track file")
    assert list(work.iterdir()) == []


def test_malformed_track(tiny_run, work):
    bad = work / "bad.npy"
    np.save(bad, np.zeros((4, 2)))
    for args in (("eval", "-m", tiny_run, "-t", bad, "--json", "e.json"),
                 ("plot-trajectories", "-m", tiny_run, "-t", bad, "--out", "p.png"),
                 ("gif", "-m", tiny_run, "-t", bad, "--out", "g.gif")):
        assert_clean_error(invoke(*args), "bad.npy", "shape (4, 2)")
    assert [p.name for p in work.iterdir()] == ["bad.npy"]


def test_glob_matching_nothing(tiny_run, work):
    assert_clean_error(invoke("eval", "-m", tiny_run, "--tracks", "zz_none_*"), "zz_none_*", "no track files match")


def test_missing_run_folder(work):
    assert_clean_error(invoke("eval", "--model", work / "runs" / "gone", "--json", "e.json"), "gone",
                       "no such run folder")
    assert_clean_error(invoke("plot-trajectories"), "runs", "no such runs folder")
    assert_clean_error(invoke("gif", "-m", "nowhere"), "nowhere", "no such run folder")
    assert list(work.iterdir()) == []


def test_unknown_config_key(tiny_run, work):
    run = copy_run(tiny_run, work / "run", **{"env.colour": "red"})
    assert_clean_error(invoke("eval", "-m", run, "--json", "e.json"), str(run / "config.yaml"), "env.colour")
    assert not (work / "e.json").exists()


def test_wrong_value_type(tiny_run, work):
    run = copy_run(tiny_run, work / "run", **{"env.frame_skip": "fast"})
    assert_clean_error(invoke("gif", "-m", run, "-t", "kidney", "--out", "g.gif"), "env.frame_skip", "integer")
    assert not (work / "g.gif").exists()


def test_incompatible_model(tiny_run, work):
    run = copy_run(tiny_run, work / "run", **{"env.obs": "pixels", "env.frame_stack": 4})
    for args in (("eval", "-m", run, "-t", "kidney", "--json", "e.json"),
                 ("plot-trajectories", "-m", run, "-t", "kidney", "--out", "p.png"),
                 ("gif", "-m", run, "-t", "kidney", "--out", "g.gif")):
        assert_clean_error(invoke(*args), str(run / "model.zip"), "(37,)", "(4, 64, 64)")
    assert sorted(p.name for p in work.iterdir()) == ["run"]
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "model.zip", "vecnormalize.pkl"]


def test_corrupt_model_file(tiny_run, work):
    run = copy_run(tiny_run, work / "run")
    (run / "model.zip").write_bytes(b"garbage")
    assert_clean_error(invoke("eval", "-m", run), "model.zip", "not a loadable")


def test_bad_option_values(tiny_run, work):
    assert_clean_error(invoke("eval", "-m", tiny_run, "--episodes", 0), "--episodes 0")
    assert_clean_error(invoke("eval", "-m", tiny_run, "--max-steps", -5), "--max-steps -5")
    assert_clean_error(invoke("gif", "-m", tiny_run, "--fps", 0), "--fps 0")
    assert_clean_error(invoke("gif", "-m", tiny_run, "--out", "lap.png"), "lap.png", ".gif")
    assert_clean_error(invoke("plot-trajectories", "-m", tiny_run, "--out", "p.jpg"), "p.jpg", ".png")
    (work / "folder").mkdir()
    assert_clean_error(invoke("eval", "-m", tiny_run, "--json", "folder"), "folder", "is a directory")


def test_help_documents_every_option():
    for command in ("eval", "plot-trajectories", "gif"):
        result = invoke(command, "--help")
        assert result.exit_code == 0
    cmd = __import__("typer").main.get_command(app)
    for name in ("eval", "plot-trajectories", "gif"):
        for param in cmd.commands[name].params:
            assert getattr(param, "help", None), f"{name} {param.name} has no help text"
