"""The command line end to end: train a tiny features agent, then eval, plot-trajectories and gif."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest
from typer.testing import CliRunner

from racingline import __version__
from racingline.cli import app

from helpers import SCRATCH

runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result


def test_version_and_help_list_every_command():
    result = invoke("--version")
    assert result.exit_code == 0 and __version__ in result.output
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("train", "eval", "plot-trajectories", "gif", "bench", "tracks"):
        assert command in result.output


@pytest.mark.parametrize("command", ["train", "eval", "plot-trajectories", "gif", "bench", "tracks"])
def test_each_command_documents_its_options(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0 and "--help" in result.output


@pytest.mark.parametrize("args, fragment", [
    (("train", "--n-envs", "0"), "Invalid value for '--n-envs'"),
    (("train", "--timesteps", "-5"), "Invalid value for '--timesteps'"),
    (("eval", "--bogus"), "No such option: --bogus"),
    (("tracks", "show"), "Missing argument 'track'"),
    (("nosuch",), "No such command 'nosuch'"),
])
def test_usage_errors_are_one_line_through_the_runner(args, fragment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {fragment}") and "--help" in lines[0], result.stderr
    assert "Usage:" not in result.output and list(tmp_path.iterdir()) == []


def test_bare_command_still_shows_help():
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 2 and "Usage" in result.output and "error:" not in result.output
    result = CliRunner().invoke(app, ["tracks"])
    assert result.exit_code == 2 and "download" in result.output and "error:" not in result.output


def test_features_train_then_eval_plot_gif(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "tiny"
    result = invoke("train", *SCRATCH, "--set", "env.obs=features", "--set", "env.continuous=true",
                    "--set", "env.reward=progress", "--track", "rounded_rectangle", "--n-envs", "1",
                    "--timesteps", "1024", "--set", "ppo.n_steps=256", "--set", "ppo.batch_size=64",
                    "--set", "ppo.n_epochs=1", "--run-dir", str(run), "--no-progress")
    assert result.exit_code == 0, result.output
    for name in ("model.zip", "vecnormalize.pkl", "config.yaml", "progress.csv"):
        assert (run / name).is_file(), name

    out = tmp_path / "eval.json"
    result = invoke("eval", "--model", str(run), "--track", "kidney", "--track", "s_bend", "--max-steps", "200",
                    "--json", str(out))
    assert result.exit_code == 0, result.output
    assert "kidney" in result.output and "s_bend" in result.output
    report = json.loads(out.read_text())
    assert [t["track"] for t in report["tracks"]] == ["kidney", "s_bend"]
    for t in report["tracks"]:
        assert isinstance(t["mean_progress_pct"], float) and 0.0 <= t["mean_progress_pct"] <= 100.0
        assert isinstance(t["laps_completed"], int) and t["laps_attempted"] == 1

    png = tmp_path / "paths.png"
    result = invoke("plot-trajectories", "--model", str(run), "--track", "kidney", "--track", "s_bend",
                    "--max-steps", "100", "--out", str(png))
    assert result.exit_code == 0, result.output
    image = iio.imread(png)
    assert image.ndim == 3 and image.shape[0] > 100

    gif = tmp_path / "lap.gif"
    result = invoke("gif", "--model", str(run), "--track", "kidney", "--steps", "12", "--out", str(gif))
    assert result.exit_code == 0, result.output
    frames = iio.imread(gif, index=None)
    assert frames.shape[0] >= 10 and frames.shape[1:3] == (400, 600)
    assert not np.array_equal(frames[0], frames[-1])  # the car moved
