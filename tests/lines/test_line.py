"""RacingLine and its file: derived geometry, save/load round trip, bad files (racingline.lines.line)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from racingline.lines.line import LineError, RacingLine, load_line, polyline_curvature, save_line


def circle(r: float = 5.0, n: int = 400) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def test_geometry_of_a_circle():
    line = RacingLine(circle(5.0), "ring", "mincurv", 0.05, speed_mps=np.full(400, 2.0))
    assert line.length_m == pytest.approx(2 * math.pi * 5.0, rel=1e-4)
    assert np.allclose(line.curvature_1pm, 1 / 5.0, rtol=1e-3)  # counter-clockwise: positive (left)
    assert np.allclose(polyline_curvature(circle(5.0)[::-1]), -1 / 5.0, rtol=1e-3)
    assert line.time_s[-1] + line.seg_m[-1] / 2.0 == pytest.approx(line.length_m / 2.0)
    assert line.s_m[0] == 0 and np.all(np.diff(line.s_m) > 0)


def test_save_and_load_round_trip(tmp_path):
    line = RacingLine(circle(), "ring", "k1999", 0.1, reverse=True, speed_mps=np.linspace(1, 3, 400),
                      meta={"lap_time_flying_s": 12.5})
    path = save_line(line, tmp_path / "ring.npz")
    back = load_line(path)
    assert np.array_equal(back.xy, line.xy) and np.array_equal(back.speed_mps, line.speed_mps)
    assert (back.track_name, back.method, back.margin_m, back.reverse) == ("ring", "k1999", 0.1, True)
    assert back.meta == {"lap_time_flying_s": 12.5}
    assert [p.name for p in tmp_path.iterdir()] == ["ring.npz"]  # no temporary file left


@pytest.mark.parametrize("make, problem", [
    (lambda: circle()[:, :1], "(N, 2)"),
    (lambda: circle()[:5], "at least 10"),
    (lambda: np.where(np.arange(800).reshape(400, 2) == 7, np.nan, circle()), "non-finite"),
])
def test_bad_points_are_refused(make, problem):
    with pytest.raises(LineError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        RacingLine(make(), "ring", "mincurv")


def test_bad_files_name_the_file(tmp_path):
    missing = tmp_path / "missing.npz"
    with pytest.raises(LineError, match="missing.npz: no such line file"):
        load_line(missing)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(LineError, match="junk.npz: not a racingline line file"):
        load_line(junk)
    other = tmp_path / "other.npz"
    np.savez(other, xy=circle(), info=np.array(json.dumps({"format": "something-else"})))
    with pytest.raises(LineError, match="other.npz: not a racingline line file"):
        load_line(other)
    nan = tmp_path / "nan.npz"
    xy = circle()
    xy[3, 1] = np.nan
    np.savez(nan, xy=xy, info=np.array(json.dumps({"format": "racingline-line-1", "track_name": "ring",
                                                    "method": "mincurv", "margin_m": 0.0, "reverse": False})))
    with pytest.raises(LineError, match="nan.npz: holds non-finite values"):
        load_line(nan)
    open_line = tmp_path / "open.npz"
    save_line(RacingLine(circle()[:200], "ring", "mincurv"), open_line)  # half a circle: a 10 m gap
    with pytest.raises(LineError, match="open.npz: not a closed line"):
        load_line(open_line)
