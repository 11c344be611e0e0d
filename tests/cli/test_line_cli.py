"""``racingline line limits|optimize|drive|export|show`` end to end (in-process, Typer's CliRunner).

Export and show use a line made here and saved with ``save_line``; optimize and drive use the project's
``kidney`` track and the quickest method (``centerline``), each command a second or two.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from racingline.choices import LINE_METHODS
from racingline.cli import app
from racingline.lines.export import FORMATS
from racingline.lines.line import RacingLine, load_line, save_line
from racingline.tracks.files import load_track

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args: str):
    return CliRunner().invoke(app, ["line", *args], env={"COLUMNS": "200"})


def ok(result):
    assert result.exit_code == 0, f"{result.output}\n{result.stderr}"
    return result.stdout


def kidney_line(reverse: bool = False) -> RacingLine:
    track = load_track("kidney")
    v = np.clip(np.sqrt(2.5 / np.maximum(np.abs(track.curvature_1pm), 1e-3)), 0.8, 3.9)
    center = track.center if not reverse else track.reversed().center
    if reverse:
        v = np.concatenate([v[:1], v[:0:-1]])
    return RacingLine(center, "kidney", "centerline", 0.0, reverse, v,
                      {"lap_time_flying_s": 14.25, "lap_time_standing_s": 15.5})


@pytest.fixture
def line_file(env):
    return save_line(kidney_line(), env / "kid.npz")


# --- export ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_export_each_format_to_its_default_name(line_file, env, fmt):
    out = ok(run("export", str(line_file), "--format", fmt))
    target = env / f"kid.{fmt}"
    assert target.is_file()
    assert out.startswith(f"wrote kid.{fmt}: {fmt} of {line_file} (kidney, centerline, margin 0.000 m, ")


def test_export_files_hold_the_line(line_file, env):
    line = load_line(line_file)
    ok(run("export", str(line_file), "-f", "py", "--out", str(env / "pkg" / "race_line.py")))
    spec = importlib.util.spec_from_file_location("race_line", env / "pkg" / "race_line.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert np.array_equal(np.array(module.racing_line), line.xy) and np.array_equal(module.speeds, line.speed_mps)
    ok(run("export", str(line_file), "-f", "model_metadata.json", "--actions", "6", "--out", "model_metadata.json"))
    meta = json.loads((env / "model_metadata.json").read_text())
    assert meta["action_space_type"] == "discrete" and 2 <= len(meta["action_space"]) <= 6
    assert all(-30 <= a["steering_angle"] <= 30 and 0 < a["speed"] <= 4 for a in meta["action_space"])
    ok(run("export", str(line_file), "-f", "continuous.json", "--out", "cont.json"))
    assert json.loads((env / "cont.json").read_text())["action_space_type"] == "continuous"


def test_export_help_lists_the_formats():
    assert ", ".join(FORMATS) in ok(run("export", "--help"))


# --- show -----------------------------------------------------------------------------------------

def test_show_one_and_several_lines(line_file, env):
    out = ok(run("show", str(line_file), "--out", "one.png"))
    assert out.splitlines()[0] == "wrote one.png: 1 line(s) on kidney"
    assert "lap estimate 14.25 s flying, 15.50 s standing" in out
    assert (env / "one.png").read_bytes()[:8] == PNG_MAGIC
    other = kidney_line()
    save_line(RacingLine(other.xy, "kidney", "shortest", 0.05, False, other.speed_mps * 1.1,
                         {"lap_time_flying_s": 13.0}), env / "fast.npz")
    out = ok(run("show", str(line_file), "fast.npz", "--track", "kidney"))
    assert out.splitlines()[0] == "wrote kid.png: 2 line(s) on kidney"  # default: <first line>.png
    with Image.open(env / "kid.png") as img:
        assert img.format == "PNG"


def test_show_a_reversed_line(env):
    save_line(kidney_line(reverse=True), env / "rev.npz")
    ok(run("show", "rev.npz", "--out", "rev.png"))
    assert (env / "rev.png").read_bytes()[:8] == PNG_MAGIC


# --- optimize and drive ---------------------------------------------------------------------------

def test_optimize_then_drive(env):
    out = ok(run("optimize", "kidney", "--method", "centerline", "--margin-m", "0.05", "--out", "cl.npz"))
    lines = out.splitlines()
    assert lines[0].startswith("wrote cl.npz: kidney, centerline, margin 0.050 m, ")
    assert lines[1].startswith("lap estimate: ") and "s flying" in lines[1] and "s standing" in lines[1]
    line = load_line(env / "cl.npz")
    assert (line.track_name, line.method, line.reverse) == ("kidney", "centerline", False)
    assert line.speed_mps is not None and line.meta["lap_time_flying_s"] > 0

    out = ok(run("drive", "--line", "cl.npz", "--plot", "drive.png", "--gif", "lap.gif"))
    rows = dict(row.split(":", 1) for row in out.splitlines() if not row.startswith("wrote"))
    assert set(rows) == {"line", "speeds", "lap", "estimate", "ratio", "deviation", "off-track"}
    assert rows["speeds"].strip().endswith("x the measured grip")
    lap_s = float(rows["lap"].split()[0])  # the centerline of the kidney is lapped
    assert 0.8 < lap_s / float(rows["estimate"].split()[0]) < 1.5
    assert float(rows["ratio"]) == pytest.approx(lap_s / float(rows["estimate"].split()[0]), abs=2e-3)
    assert rows["off-track"].strip() == "0 steps"
    assert (env / "drive.png").read_bytes()[:8] == PNG_MAGIC
    with Image.open(env / "lap.gif") as gif:
        assert gif.n_frames > 50
    assert "wrote lap.gif (" in out

    out = ok(run("drive", "--line", "cl.npz", "--track", "kidney", "--flying", "--own-speeds"))
    rows = dict(row.split(":", 1) for row in out.splitlines())
    assert rows["speeds"].strip() == "the line's own profile"
    assert rows["lap"].strip().endswith("s (flying lap)")
    assert rows["estimate"].strip() == f"{line.meta['lap_time_flying_s']:.2f} s (flying lap)"


def test_optimize_help_lists_the_methods():
    assert ", ".join(LINE_METHODS) in ok(run("optimize", "--help")).replace("\n", " ")


# --- limits ---------------------------------------------------------------------------------------

def test_limits_prints_the_table_and_writes_json(env, monkeypatch):
    """``measure_limits`` is the engineer's tens of seconds; here it returns the shipped table."""
    import racingline.lines.limits as limits_module

    calls = []

    def fake_measure(*, on_progress=None):
        on_progress(0, 1, "straight")
        on_progress(1, 1, "done")
        calls.append(True)
        return limits_module.load_limits()

    monkeypatch.setattr(limits_module, "measure_limits", fake_measure)
    out = ok(run("limits"))
    assert calls and "Car limits (top speed" in out and "lateral m/s^2" in out
    assert not list(env.glob("*.json"))
    out = ok(run("limits", "--out", "lim.json"))
    assert out.rstrip().endswith("wrote lim.json")
    back = limits_module.load_limits(env / "lim.json")
    assert back.top_speed_mps == limits_module.load_limits().top_speed_mps
