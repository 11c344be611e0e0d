"""Tests of racingline.evaluate.plots: trajectory grids and GIFs (scripted drivers stand in for trained models)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from gymnasium import spaces
from PIL import Image

import racingline.evaluate.rollouts as evaluation
from racingline.errors import ConfigError
from racingline.evaluate.plots import (
    default_plot_tracks,
    plot_trajectories,
    record_gif,
    rollout_title,
    trajectory_figure,
    write_gif,
)
from racingline.evaluate.results import EpisodeResult, Rollout
from racingline.tracks.files import PROJECT_TRACKS_DIR, TrackError, load_track
from racingline.train.config import Config, EnvConfig
from racingline.train.runs import LoadedRun


class _Scripted:
    """A stand-in model: pure pursuit (reads the simulator) or one fixed action."""

    def __init__(self, action: int | None = None):
        from racingline.lines.controllers import PurePursuit
        from racingline.sim.features import FEATURE_HIGH, FEATURE_LOW

        self.observation_space = spaces.Box(FEATURE_LOW, FEATURE_HIGH, dtype=np.float32)
        self.action_space = spaces.Discrete(5)
        self.action = action
        self.driver = PurePursuit(lookahead_m=1.0, target_speed_mps=2.0)
        self.env = None

    def predict(self, obs, deterministic=True):
        action = self.action if self.action is not None else self.driver.discrete(self.env)
        return np.array([action]), None


@pytest.fixture
def scripted_run(tmp_path, monkeypatch):
    """Make a LoadedRun (features observation, no statistics) driven by a scripted model."""
    original = evaluation.make_eval_env
    models: list[_Scripted] = []

    def make_and_attach(*args, **kwargs):
        venv = original(*args, **kwargs)
        for m in models:
            m.env = venv.unwrapped.envs[0].unwrapped
        return venv

    monkeypatch.setattr(evaluation, "make_eval_env", make_and_attach)

    def make(action: int | None = None) -> LoadedRun:
        model = _Scripted(action)
        models.append(model)
        cfg = Config(env=EnvConfig(track="rounded_rectangle", obs="features", frame_stack=1, max_episode_steps=1500))
        return LoadedRun(model_path=tmp_path / "model.zip", run_dir=tmp_path, config=cfg, stats_path=None,
                         model=model)

    return make


def _result(**changes) -> EpisodeResult:
    base = dict(track="kidney", track_reversed=False, start_waypoint=0, lap_complete=True, lap_steps=500,
                lap_time_s=19.98, steps=500, time_s=19.98, progress_pct=100.0, off_track_count=0, reversed_steps=0,
                total_reward=900.0, end="lap")
    base.update(changes)
    return EpisodeResult(**base)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_default_plot_tracks_lists_each_file_once(tmp_path, monkeypatch):
    project = {p.name for p in PROJECT_TRACKS_DIR.glob("*.npy")}
    monkeypatch.chdir(PROJECT_TRACKS_DIR.parent)  # ./tracks is the project's tracks/ here: listed once
    assert sorted(p.name for p in default_plot_tracks()) == sorted(project)
    extra = tmp_path / "extra"
    extra.mkdir()
    shutil.copy(PROJECT_TRACKS_DIR / "kidney.npy", extra / "my_kidney.npy")
    (extra / "notes.txt").write_text("not a track")
    monkeypatch.setenv("RACINGLINE_TRACKS", f"{extra}{os.pathsep}{tmp_path / 'missing'}")
    found = default_plot_tracks()
    assert found[-1] == extra / "my_kidney.npy"
    assert len(found) == len(project) + 1


def test_rollout_title_with_and_without_a_lap():
    track = load_track("kidney")
    lap = Rollout(track=track, path_m=[], info={}, result=_result())
    assert rollout_title(lap) == "kidney\nprogress 100% · lap 19.98 s (500 steps)"
    none = Rollout(track=track, path_m=[], info={}, result=_result(
        lap_complete=False, lap_steps=None, lap_time_s=None, steps=80, time_s=3.2, progress_pct=12.4,
        end="out_of_playfield", track_reversed=True))
    assert rollout_title(none) == "kidney (reversed)\nprogress 12% · no lap (out of playfield after 80 steps, 3.2 s)"


def test_trajectory_figure_draws_one_panel_per_rollout():
    rollouts = [Rollout(track=load_track(name), path_m=[(0.0, 0.0), (1.0, 0.5), (2.0, 0.5)], info={},
                        result=_result(track=name)) for name in ("kidney", "s_bend", "rounded_rectangle")]
    fig = trajectory_figure(rollouts)
    axes = fig.get_axes()
    assert len(axes) == 3
    assert [ax.get_title().splitlines()[0] for ax in axes] == ["kidney", "s_bend", "rounded_rectangle"]
    red = [line for line in axes[0].get_lines() if line.get_color() == "#e4002b"]
    assert len(red) == 1 and np.allclose(red[0].get_xydata(), [(0, 0), (1, 0.5), (2, 0.5)])
    assert len(axes[0].collections) == 1  # the road polygons
    with pytest.raises(TrackError, match="no tracks"):
        trajectory_figure([])


def test_plot_trajectories_writes_a_png_with_and_without_laps(scripted_run, tmp_path):
    out = tmp_path / "pics" / "paths.png"
    driver = scripted_run()
    rollouts = plot_trajectories(driver, ["rounded_rectangle"], out, max_steps=1500)
    assert rollouts[0].result.lap_complete
    with Image.open(out) as im:
        im.load()
        assert im.format == "PNG" and im.size[0] > 100
    # A car that never finishes a lap (holding full right lock) still plots; its path ends with the episode.
    spinner = scripted_run(action=1)
    rollouts = plot_trajectories(spinner, ["kidney", "s_bend"], out, max_steps=50)
    assert [r.result.lap_complete for r in rollouts] == [False, False]
    assert [len(r.path_m) for r in rollouts] == [51, 51]
    with Image.open(out) as im:
        im.load()
    assert _leftovers(out.parent) == ["paths.png"]


def test_plot_trajectories_bad_inputs_leave_no_file(scripted_run, tmp_path):
    run = scripted_run(action=3)
    with pytest.raises(ConfigError, match=r"paths.jpg: .*\.png"):
        plot_trajectories(run, ["kidney"], tmp_path / "paths.jpg", max_steps=5)
    with pytest.raises(TrackError, match="no_such_track"):
        plot_trajectories(run, ["kidney", "no_such_track"], tmp_path / "paths.png", max_steps=5)
    assert _leftovers(tmp_path) == []


def test_write_gif_writes_every_frame(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, size=(40, 60, 3), dtype=np.uint8) for _ in range(5)]
    out = write_gif(iter(frames), tmp_path / "noise.gif", fps=50)
    with Image.open(out) as im:
        assert im.format == "GIF" and im.n_frames == 5 and im.size == (60, 40)
        assert im.info["duration"] == 20


def test_write_gif_failure_leaves_no_file(tmp_path):
    def broken():
        yield np.zeros((8, 8, 3), dtype=np.uint8)
        raise RuntimeError("renderer died")

    with pytest.raises(RuntimeError):
        write_gif(broken(), tmp_path / "a.gif")
    with pytest.raises(ConfigError, match="no frames"):
        write_gif([], tmp_path / "b.gif")
    with pytest.raises(ConfigError, match="fps=0"):
        write_gif([np.zeros((8, 8, 3), dtype=np.uint8)], tmp_path / "c.gif", fps=0)
    assert _leftovers(tmp_path) == []


def test_record_gif_full_frames(scripted_run, tmp_path):
    run = scripted_run(action=3)
    ro, count = record_gif(run, "kidney", tmp_path / "lap.gif", steps=6, fps=25)
    assert count == 7 and ro.result.steps == 6
    with Image.open(tmp_path / "lap.gif") as im:
        assert im.n_frames == 7 and im.size == (600, 400) and im.info["duration"] == 40
    with pytest.raises(TrackError):
        record_gif(run, "no_such_track", tmp_path / "x.gif", steps=3)
    assert _leftovers(tmp_path) == ["lap.gif"]
