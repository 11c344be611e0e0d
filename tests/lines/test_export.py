"""Line exports (racingline.lines.export) and pictures (racingline.lines.plots).

Lines here are made directly (a circle, the kidney's centerline with a speed profile), so these tests do
not depend on the optimisers: every export must give back the line's own numbers.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from racingline.lines.export import (
    DEEPRACER_WHEELBASE_M,
    FORMATS,
    MAX_SPEED_MPS,
    MAX_STEERING_DEG,
    SPEED_FORMATS,
    continuous_action_space,
    discrete_action_space,
    export_line,
    steering_angles_deg,
)
from racingline.lines.line import LineError, RacingLine
from racingline.lines.plots import braking_mask, corners, line_figure, plot_line, write_lap_gif
from racingline.tracks.files import load_track

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def circle(r: float, n: int = 200) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def kidney_line(speed: bool = True, reverse: bool = False) -> RacingLine:
    """The kidney's centerline with a speed profile: faster where it is straighter, braking before bends."""
    track = load_track("kidney")
    k = np.abs(track.curvature_1pm)
    v = np.clip(np.sqrt(2.5 / np.maximum(k, 1e-3)), 0.8, 3.9)
    v = np.minimum(v, np.roll(v, -1) + 0.3)  # a little braking ahead of each slow point
    meta = {"lap_time_flying_s": 14.25, "lap_time_standing_s": 15.5} if speed else {}
    return RacingLine(track.center, track.name, "centerline", 0.0, reverse, v if speed else None, meta)


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(f"exported_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the formats --------------------------------------------------------------------------------------

def test_formats_are_one_list():
    assert FORMATS == ("npy", "py", "csv", "model_metadata.json", "continuous.json")
    assert set(SPEED_FORMATS) == set(FORMATS) - {"npy"}


def test_npy_is_the_closed_loop_in_track_metres(tmp_path):
    line = kidney_line()
    path = export_line(line, "npy", tmp_path / "k.npy")
    loop = np.load(path)
    assert loop.dtype == np.float64 and loop.shape == (len(line.xy) + 1, 2)
    assert np.array_equal(loop[:-1], line.xy) and np.array_equal(loop[-1], loop[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.npy"]  # no temporary file left


def test_py_module_imports_to_the_same_numbers(tmp_path):
    line = kidney_line()
    path = export_line(line, "py", tmp_path / "kidney_line.py")
    module = load_module(path)
    assert np.array_equal(np.array(module.racing_line), line.xy)
    assert np.array_equal(np.array(module.speeds), line.speed_mps)
    head = path.read_text().splitlines()[:4]
    assert head[0].startswith("# centerline racing line for kidney")
    assert "flying 14.25 s, standing 15.50 s" in head[1]
    assert "reward_function(params)" in head[2]


def test_py_module_serves_a_reward_function(tmp_path):
    """Pasted under a reward function, the module finds the line point nearest the car and its speed."""
    line = kidney_line()
    text = export_line(line, "py", tmp_path / "rl.py").read_text()
    code = text + (
        "\ndef reward_function(params):\n"
        "    i = min(range(len(racing_line)), key=lambda k: (racing_line[k][0] - params['x']) ** 2"
        " + (racing_line[k][1] - params['y']) ** 2)\n"
        "    return float(speeds[i])\n")
    scope: dict = {}
    exec(compile(code, "reward.py", "exec"), scope)
    x, y = line.xy[37] + 0.01
    assert scope["reward_function"]({"x": float(x), "y": float(y)}) == line.speed_mps[37]


def test_csv_parses_to_the_same_numbers(tmp_path):
    line = kidney_line()
    path = export_line(line, "csv", tmp_path / "k.csv")
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["x", "y", "speed_mps", "time_s", "curvature_1pm"]
    table = np.array(rows[1:], dtype=np.float64)
    assert table.shape == (len(line.xy), 5)
    assert np.array_equal(table[:, :2], line.xy)
    assert np.array_equal(table[:, 2], line.speed_mps)
    assert np.array_equal(table[:, 3], line.time_s)
    assert np.array_equal(table[:, 4], line.curvature_1pm)


def test_model_metadata_is_a_deepracer_discrete_action_space(tmp_path):
    line = kidney_line()
    path = export_line(line, "model_metadata.json", tmp_path / "model_metadata.json")
    meta = json.loads(path.read_text())
    assert set(meta) == {"action_space", "sensor", "neural_network", "training_algorithm", "action_space_type",
                         "version"}
    assert meta["sensor"] == ["FRONT_FACING_CAMERA"]
    assert meta["neural_network"] == "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW"
    assert meta["training_algorithm"] == "clipped_ppo"
    assert meta["action_space_type"] == "discrete" and meta["version"] == "5"
    actions = meta["action_space"]
    assert 2 <= len(actions) <= 15
    for action in actions:
        assert set(action) == {"steering_angle", "speed"}
        assert -30.0 <= action["steering_angle"] <= 30.0
        assert 0.0 < action["speed"] <= 4.0
    assert actions == sorted(actions, key=lambda a: (a["steering_angle"], a["speed"]))
    # The clusters cover the line: its straights (fast, straight ahead) and its slowest bends.
    steer = steering_angles_deg(line)
    assert min(a["speed"] for a in actions) < np.percentile(line.speed_mps, 10) + 0.5
    assert max(a["speed"] for a in actions) > np.percentile(line.speed_mps, 90) - 0.5
    assert max(abs(a["steering_angle"]) for a in actions) <= np.abs(steer).max() + 0.05
    # Deterministic (a fixed k-means seed): the same line gives the same file.
    again = export_line(line, "model_metadata.json", tmp_path / "again.json")
    assert again.read_bytes() == path.read_bytes()


def test_action_count_follows_the_option():
    line = kidney_line()
    assert len(discrete_action_space(line, 5)) <= 5
    assert len(discrete_action_space(line, 30)) > 5
    for bad in (1, 51, 2.5, True):
        with pytest.raises(LineError, match="actions="):
            discrete_action_space(line, bad)


def test_steering_follows_the_bicycle_model_and_is_clipped():
    """Counter-clockwise (left) circles steer left (positive); a circle tighter than DeepRacer's lock is clipped."""
    r = 2.0
    wide = RacingLine(circle(r), "ring", "mincurv", speed_mps=np.full(200, 2.0))
    expected = math.degrees(math.atan(DEEPRACER_WHEELBASE_M / r))
    assert np.allclose(steering_angles_deg(wide), expected, rtol=1e-3)
    right = RacingLine(circle(r)[::-1], "ring", "mincurv", speed_mps=np.full(200, 2.0))
    assert np.allclose(steering_angles_deg(right), -expected, rtol=1e-3)
    tight = RacingLine(circle(0.2, n=40), "ring", "mincurv", speed_mps=np.full(40, 9.0))  # 39.5 deg, 9 m/s
    (action,) = discrete_action_space(tight, 5)
    assert action == {"steering_angle": MAX_STEERING_DEG, "speed": MAX_SPEED_MPS}


def test_continuous_ranges_cover_the_line(tmp_path):
    line = kidney_line()
    meta = json.loads(export_line(line, "continuous.json", tmp_path / "c.json").read_text())
    assert meta["action_space_type"] == "continuous" and meta["version"] == "5"
    space = meta["action_space"]
    steer, speed = space["steering_angle"], space["speed"]
    angles = steering_angles_deg(line)
    assert -30 <= steer["low"] <= angles.min() and angles.max() <= steer["high"] <= 30
    assert 0 < speed["low"] <= line.speed_mps.min() and line.speed_mps.max() <= speed["high"] <= 4.0
    # A circle at one speed still gets ranges with low < high (DeepRacer rejects an empty range).
    ring = continuous_action_space(RacingLine(circle(3.0), "ring", "mincurv", speed_mps=np.full(200, 2.0)))
    assert ring["speed"]["low"] < 2.0 < ring["speed"]["high"]
    assert ring["steering_angle"]["low"] < ring["steering_angle"]["high"]


@pytest.mark.parametrize("fmt", SPEED_FORMATS)
def test_formats_with_speeds_need_a_speed_profile(tmp_path, fmt):
    with pytest.raises(LineError, match="no speed profile"):
        export_line(kidney_line(speed=False), fmt, tmp_path / "out")
    assert not list(tmp_path.iterdir())


def test_points_need_no_speeds_and_unknown_formats_list_the_valid_ones(tmp_path):
    assert np.load(export_line(kidney_line(speed=False), "npy", tmp_path / "p.npy")).shape[1] == 2
    with pytest.raises(LineError, match="npy, py, csv, model_metadata.json, continuous.json"):
        export_line(kidney_line(), "xlsx", tmp_path / "x.xlsx")
    assert not (tmp_path / "x.xlsx").exists()


# --- pictures ---------------------------------------------------------------------------------------

def test_braking_mask_marks_where_the_profile_slows():
    line = RacingLine(circle(3.0, 10), "ring", "mincurv", speed_mps=[3, 3, 2, 1, 1, 2, 3, 4, 4, 3.5])
    assert braking_mask(line).tolist() == [False, True, True, False, False, False, False, False, True, True]
    assert not braking_mask(kidney_line(speed=False)).any()


def test_corners_are_numbered_in_driving_order(shared_2022):
    track = load_track(shared_2022 / "2022_may_pro.npy")
    found = corners(track)
    assert 6 <= len(found) <= 14 and np.all(np.diff(found) > 0)
    assert np.all(np.abs(track.curvature_1pm[found]) > 0.3)
    assert len(corners(load_track("kidney"))) <= 2  # gentle bends are no corners


def test_plot_one_line_writes_a_png(tmp_path):
    line = kidney_line()
    out = plot_line(load_track("kidney"), line, tmp_path / "k.png")
    assert out.read_bytes()[:8] == PNG_MAGIC
    with Image.open(out) as img:
        assert img.size[0] >= 800
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.png"]


def test_plot_several_lines_with_a_driven_path(tmp_path):
    track = load_track("kidney")
    a, b = kidney_line(), kidney_line(speed=False)
    fig = line_figure(track, [a, b], driven=a.xy[:50] + 0.02, driven_label="driven")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[0] == "centerline, margin 0.00 m: lap 14.25 s flying, 15.50 s standing"
    assert labels[1] == "centerline, margin 0.00 m: no speed profile"
    assert "driven" in labels and "braking" in labels
    assert fig.axes[0].get_title() == "kidney: 2 racing lines"
    assert plot_line(track, [a, b], tmp_path / "two.png").read_bytes()[:8] == PNG_MAGIC


def test_plot_title_names_a_reversed_line():
    line = kidney_line(reverse=True)
    fig = line_figure(load_track("kidney", reverse=True), line)
    assert fig.axes[0].get_title().startswith("kidney (reversed): centerline line")
    assert "lap estimate 14.25 s flying, 15.50 s standing" in fig.axes[0].get_title()


def test_plot_refuses_a_format_matplotlib_cannot_write(tmp_path):
    with pytest.raises(LineError, match="unsupported picture format"):
        plot_line(load_track("kidney"), kidney_line(), tmp_path / "k.xyz")
    assert not list(tmp_path.iterdir())


def test_lap_gif_moves_the_car_along_the_line(tmp_path):
    line = kidney_line()
    pos = line.xy[::2]
    out, frames = write_lap_gif(load_track("kidney"), line, pos, line.speed_mps[::2], tmp_path / "lap.gif",
                                step_s=0.04, fps=25.0, width_px=320)
    assert frames == len(pos)
    with Image.open(out) as img:
        assert img.n_frames == frames and img.size[0] == 320
        assert img.info["duration"] == 40 and img.info["loop"] == 0
    with pytest.raises(LineError, match=r"\.gif"):
        write_lap_gif(load_track("kidney"), line, pos, line.speed_mps[::2], tmp_path / "lap.png", step_s=0.04)
