"""Bad track files given to ``tracks show``, ``eval --track`` and ``plot-trajectories --track``.

Each row runs a real ``racingline`` process and expects one ``error:`` line naming the file and the
problem, exit code 1, no traceback and no picture or result file left behind (nor anything new in the run
folder). The eval and plot rows use the tiny trained run of the session fixture ``features_run``; they load
the model before the track, so each takes ~4 s against ~1 s for a ``tracks show`` row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from racingline.resources import PROJECT_TRACKS_DIR

from helpers import BadInput, run_bad_input


def _kidney() -> np.ndarray:
    return np.load(PROJECT_TRACKS_DIR / "kidney.npy")


def _writer(name: str, make: Callable[[], np.ndarray]) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        np.save(folder / name, make())

    return setup


def _nan() -> np.ndarray:
    a = _kidney()
    a[5, 0] = np.nan
    return a


def _eight() -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    center = np.stack([10 * np.sin(t), 5 * np.sin(2 * t)], axis=1)
    return np.concatenate([center, center + [0, 0.5], center - [0, 0.5]], axis=1)


def _thin() -> np.ndarray:
    a = _kidney()
    mid = a[:, 0:2]
    a[:, 2:4] = mid + (a[:, 2:4] - mid) * (0.001 / 1.07)
    a[:, 4:6] = mid + (a[:, 4:6] - mid) * (0.001 / 1.07)
    return a


def _open() -> np.ndarray:
    return _kidney()[: 2 * len(_kidney()) // 3]  # two thirds of the loop


def _text(folder: Path) -> None:
    (folder / "text.npy").write_text("center_x,center_y\n1,2\n")


#: (id, file given to --track, setup, fragments of the error line).
TRACKS: list[tuple[str, str, Callable[[Path], None] | None, tuple[str, ...]]] = [
    ("nan", "nan.npy", _writer("nan.npy", _nan), ("nan.npy", "non-finite", "row 5")),
    ("wrong-shape", "shape.npy", _writer("shape.npy", lambda: _kidney()[:, :4]), ("shape.npy", "shape", "(N, 6)")),
    ("self-intersecting", "eight.npy", _writer("eight.npy", _eight), ("eight.npy", "intersects itself")),
    ("340k-rows", "bomb.npy", _writer("bomb.npy", lambda: np.zeros((340_000, 6))),
     ("bomb.npy", "340,000 rows", "10..5,000")),
    ("km-scale", "km.npy", _writer("km.npy", lambda: _kidney() * 1000.0), ("km.npy", "bounding box", "at most 100 m")),
    ("1mm-wide", "thin.npy", _writer("thin.npy", _thin), ("thin.npy", "road width is 0.001 m", "0.3..3 m")),
    ("open-loop", "open.npy", _writer("open.npy", _open), ("open.npy", "not a closed loop")),
    ("not-npy", "text.npy", _text, ("text.npy", "not a numpy .npy file", "text file")),
    ("missing", "./gone.npy", None, ("gone.npy", "no such file")),
]

#: plot-trajectories resolves --track with the same function as eval (``resolve_eval_tracks``), and each of
#: its rows costs ~4 s (the model is loaded first), so it gets the classes that hung or crashed the renderer
#: and one of each other kind rather than all of them.
PLOT_TRACKS = ("340k-rows", "km-scale", "1mm-wide", "open-loop", "missing")


def _cases() -> list[BadInput]:
    cases = []
    for tid, name, setup, expect in TRACKS:
        cases.append(BadInput(f"show-{tid}", ("tracks", "show", name, "--out", "out.png"), expect,
                              absent=("out.png", "*.png"), setup=setup))
        cases.append(BadInput(f"eval-{tid}", ("eval", "--model", "{run}", "--track", name, "--episodes", "1",
                                              "--json", "result.json"), expect,
                              absent=("result.json",), setup=setup))
        if tid in PLOT_TRACKS:
            cases.append(BadInput(f"plot-{tid}", ("plot-trajectories", "--model", "{run}", "--track", name,
                                                  "--out", "traj.png"), expect,
                                  absent=("traj.png", "*.png"), setup=setup))
    return cases


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_track_is_one_clean_error(case, tmp_path, request):
    if "{run}" not in case.args:
        run_bad_input(case, tmp_path)
        return
    run = request.getfixturevalue("features_run")
    before = sorted(run.rglob("*"))
    run_bad_input(dataclasses.replace(case, args=tuple(str(run) if a == "{run}" else a for a in case.args)),
                  tmp_path)
    assert sorted(run.rglob("*")) == before  # nothing written into the run folder either
