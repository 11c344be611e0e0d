"""Bad inputs to ``racingline line ...``: each row is a real process that must fail with one ``error:`` line
naming the input, the right exit code (2 for an unknown method or format, as for any bad option value; 1
for a bad file), no traceback, and no output file. No row optimises, drives or measures anything: every
check comes before the work.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from racingline.lines.line import RacingLine, save_line
from racingline.resources import PROJECT_TRACKS_DIR
from racingline.tracks.files import load_track

from helpers import BadInput, run_bad_input


def _kidney_line(speed: bool = True) -> RacingLine:
    track = load_track("kidney")
    return RacingLine(track.center, "kidney", "centerline", 0.0, False,
                      np.full(track.n_waypoints, 2.0) if speed else None, {"lap_time_flying_s": 19.0})


def _line(folder: Path) -> None:
    save_line(_kidney_line(), folder / "line.npz")


def _raw_line(folder: Path, name: str, xy: np.ndarray) -> None:
    """A line file as save_line writes it, but with points RacingLine itself would refuse."""
    info = {"track_name": "kidney", "method": "centerline", "margin_m": 0.0, "reverse": False, "meta": {},
            "format": "racingline-line-1"}
    np.savez(folder / name, xy=xy, info=np.array(json.dumps(info)))


def _nan(folder: Path) -> None:
    xy = load_track("kidney").center.copy()
    xy[7, 1] = np.nan
    _raw_line(folder, "nan.npz", xy)


def _open(folder: Path) -> None:
    xy = load_track("kidney").center
    _raw_line(folder, "open.npz", xy[: 2 * len(xy) // 3])


def _no_speed(folder: Path) -> None:
    save_line(_kidney_line(speed=False), folder / "bare.npz")


def _impostor(folder: Path) -> None:
    """A line for kidney, and another track's file named kidney.npy."""
    _line(folder)
    (folder / "other").mkdir()
    np.save(folder / "other" / "kidney.npy", np.load(PROJECT_TRACKS_DIR / "s_bend.npy"))


def _adir(folder: Path) -> None:
    _line(folder)
    (folder / "adir").mkdir()
    (folder / "d.png").mkdir()


OPTIMIZE = ("line", "optimize", "kidney", "--method", "centerline")

CASES = [
    BadInput("optimize-unknown-method", ("line", "optimize", "kidney", "--method", "fastest", "--out", "l.npz"),
             ("--method", "fastest", "centerline, mincurv, k1999, shortest, mintime"), code=2, absent=("l.npz",)),
    BadInput("optimize-margin-too-wide", (*OPTIMIZE, "--margin-m", "0.5", "--out", "l.npz"),
             ("margin", "0.5", "kidney", "widest allowed margin"), absent=("l.npz",)),
    BadInput("optimize-out-is-a-folder", (*OPTIMIZE, "--out", "adir"), ("--out adir", "is a directory"),
             absent=("adir/*",), setup=_adir),
    BadInput("optimize-missing-track", ("line", "optimize", "./nowhere.npy", "--out", "l.npz"),
             ("nowhere.npy", "no such"), absent=("l.npz",)),
    BadInput("export-unknown-format", ("line", "export", "line.npz", "--format", "xlsx", "--out", "o.xlsx"),
             ("--format", "xlsx", "npy, py, csv, model_metadata.json, continuous.json"), code=2,
             absent=("o.xlsx",), setup=_line),
    BadInput("export-nan-line", ("line", "export", "nan.npz", "--format", "npy", "--out", "o.npy"),
             ("nan.npz", "non-finite"), absent=("o.npy",), setup=_nan),
    BadInput("export-open-line", ("line", "export", "open.npz", "--format", "csv", "--out", "o.csv"),
             ("open.npz", "not a closed line"), absent=("o.csv",), setup=_open),
    BadInput("export-missing-line", ("line", "export", "gone.npz", "--format", "py", "--out", "o.py"),
             ("gone.npz", "no such line file"), absent=("o.py",)),
    BadInput("export-no-speeds", ("line", "export", "bare.npz", "--format", "model_metadata.json", "--out", "m.json"),
             ("bare.npz", "no speed profile", "model_metadata.json"), absent=("m.json",), setup=_no_speed),
    BadInput("export-out-is-a-folder", ("line", "export", "line.npz", "--format", "py", "--out", "adir"),
             ("--out adir", "is a directory"), absent=("adir/*",), setup=_adir),
    BadInput("show-nan-line", ("line", "show", "nan.npz", "--out", "p.png"), ("nan.npz", "non-finite"),
             absent=("p.png",), setup=_nan),
    BadInput("show-other-track", ("line", "show", "line.npz", "--track", "s_bend", "--out", "p.png"),
             ("line.npz", "kidney", "s_bend"), absent=("p.png",), setup=_line),
    BadInput("show-line-off-the-track", ("line", "show", "line.npz", "--track", "other/kidney.npy", "--out", "p.png"),
             ("line.npz", "does not fit", "other/kidney.npy", "leaves the simulated road"), absent=("p.png",),
             setup=_impostor),
    BadInput("show-picture-format", ("line", "show", "line.npz", "--out", "p.xyz"),
             ("p.xyz", "unsupported picture format"), absent=("p.xyz",), setup=_line),
    BadInput("show-out-is-a-folder", ("line", "show", "line.npz", "--out", "d.png"), ("--out d.png", "is a directory"),
             absent=("d.png/*",), setup=_adir),
    BadInput("drive-other-track", ("line", "drive", "--line", "line.npz", "--track", "rounded_rectangle",
                                   "--plot", "p.png"),
             ("line.npz", "kidney", "rounded_rectangle"), absent=("p.png",), setup=_line),
    BadInput("drive-open-line", ("line", "drive", "--line", "open.npz", "--gif", "lap.gif"),
             ("open.npz", "not a closed line"), absent=("lap.gif",), setup=_open),
    BadInput("drive-own-speeds-and-a-scale", ("line", "drive", "--line", "line.npz", "--own-speeds", "--speed-scale",
                                              "0.9", "--plot", "p.png"),
             ("--own-speeds", "--speed-scale"), code=2, absent=("p.png",), setup=_line),
    BadInput("drive-own-speeds-of-a-bare-line", ("line", "drive", "--line", "bare.npz", "--own-speeds", "--plot", "p.png"),
             ("bare.npz", "no speed profile"), absent=("p.png",), setup=_no_speed),
    BadInput("drive-gif-not-gif", ("line", "drive", "--line", "line.npz", "--gif", "lap.png"),
             ("lap.png", ".gif"), absent=("lap.png",), setup=_line),
    BadInput("limits-out-is-a-folder", ("line", "limits", "--out", "adir"), ("--out adir", "is a directory"),
             absent=("adir/*",), setup=_adir),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_line_input_is_one_clean_error(case, tmp_path):
    run_bad_input(case, tmp_path)
