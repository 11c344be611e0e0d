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
from racingline.lines.drive import line_deviation_m
from racingline.tracks.files import PROJECT_TRACKS_DIR, TrackError, load_track
from racingline.train.config import Config, EnvConfig, EvalConfig
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

    def make(action: int | None = None, *, env_steps: int = 1500, eval_steps: int | None = None) -> LoadedRun:
        model = _Scripted(action)
        models.append(model)
        cfg = Config(env=EnvConfig(track="rounded_rectangle", obs="features", frame_stack=1, max_episode_steps=env_steps),
                     eval=EvalConfig(max_steps=eval_steps))
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
    assert len(axes) == 3  # no speeds: no colour bar
    assert [ax.get_title().splitlines()[0] for ax in axes] == ["kidney", "s_bend", "rounded_rectangle"]
    red = [line for line in axes[0].get_lines() if line.get_color() == "#e4002b" and len(line.get_xydata()) == 3]
    assert len(red) == 1 and np.allclose(red[0].get_xydata(), [(0, 0), (1, 0.5), (2, 0.5)])
    with pytest.raises(TrackError, match="no tracks"):
        trajectory_figure([])


def test_trajectory_paths_are_coloured_by_speed_on_the_simulated_road_with_start_and_direction():
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.text import Annotation

    track = load_track("kidney")
    drive = track.reversed()
    path = drive.center[30:60] + 0.05
    speeds = np.linspace(0.5, 3.0, len(path))
    result = _result(track_reversed=True, start_waypoint=30, lap_complete=False, lap_steps=None, lap_time_s=None,
                     steps=29, progress_pct=20.0, end="truncated")
    fig = trajectory_figure([Rollout(track=track, path_m=[tuple(p) for p in path], info={}, result=result,
                                     speeds_mps=list(speeds))])
    ax, bar = fig.get_axes()
    assert bar.get_ylabel() == "speed (m/s)"
    # The path: one segment per step, each coloured by its mean speed, on a scale from 0 to the top speed.
    (lc,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(lc.get_segments()) == len(path) - 1 and np.allclose(lc.get_segments()[0], path[:2])
    assert np.allclose(lc.get_array(), 0.5 * (speeds[1:] + speeds[:-1])) and lc.get_clim() == (0.0, 3.0)
    # The road the car drives on: half DeepRacer's width (a quarter each side of the centerline), darker than
    # the full DeepRacer road drawn around it.
    def reach_m(polys) -> float:
        return float(line_deviation_m(track.center, np.vstack([q.vertices for q in polys.get_paths()])).max())

    full, sim = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert reach_m(sim) == pytest.approx(0.25 * track.width_m, rel=0.05)
    assert reach_m(full) == pytest.approx(0.5 * track.width_m, rel=0.05)
    # The start line crosses the road at the episode's start, and the arrow points the way driven (reversed).
    starts = [ln for ln in ax.get_lines() if ln.get_color() == "#e4002b" and len(ln.get_xydata()) == 2]
    assert len(starts) == 1 and np.hypot(*(starts[0].get_xydata().mean(axis=0) - drive.center[30])) < 0.05
    arrow = next(a for a in ax.texts if isinstance(a, Annotation) and a.arrow_patch is not None)
    direction = np.subtract(arrow.xy, arrow.xyann)
    assert np.dot(direction, drive.center[31] - drive.center[30]) > 0


def test_plot_trajectories_uses_the_eval_step_limit_by_default(scripted_run, tmp_path):
    # The env's own limit (60 steps) would stop the car long before a lap; eval.max_steps (1500) does not.
    driver = scripted_run(env_steps=60, eval_steps=1500)
    (ro,) = plot_trajectories(driver, ["rounded_rectangle"], tmp_path / "paths.png")
    assert ro.result.lap_complete and ro.result.steps > 60
    assert len(ro.speeds_mps) == len(ro.path_m) and max(ro.speeds_mps) > 1.5


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
