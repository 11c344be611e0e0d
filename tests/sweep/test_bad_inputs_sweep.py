"""Bad inputs to ``racingline sweep`` and ``eval --workers``: one error line, the exit code, no sweep folder.

Every row runs a real ``racingline`` process; the checks come before Ray starts, so each takes about a second.
The rows marked ``no-ray`` hide Ray with a ``ray`` package that fails to import (what a missing one does).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import BadInput, run_bad_input

NO_SWEEP = ("sw", "sweeps")
SWEEP = ("sweep", "--space", "space.yaml", "--trials", "2", "--out", "sw")
INSTALL = "pip install 'racingline[sweep]'"


def _space(text: str):
    def setup(folder: Path) -> None:
        (folder / "space.yaml").write_text(text)

    return setup


_LR = _space("ppo.learning_rate: loguniform(1e-5, 1e-3)\n")


def _held_sweep(folder: Path) -> None:
    _LR(folder)
    (folder / "sw" / "tune").mkdir(parents=True)


def _not_a_sweep(folder: Path) -> None:
    (folder / "other").mkdir()


def _hidden_ray(folder: Path) -> None:
    _LR(folder)
    (folder / "hide" / "ray").mkdir(parents=True)
    (folder / "hide" / "ray" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'ray' (hidden by the test)\", name='ray')\n")


CASES = [
    BadInput("unknown-key", SWEEP, ("space.yaml", "unknown config key 'ppo.learnin_rate'"), absent=NO_SWEEP,
             setup=_space("ppo.learnin_rate: loguniform(1e-5, 1e-3)\n")),
    BadInput("out-of-range", SWEEP, ("space.yaml", "ppo.learning_rate", "(0, 1]", "got 2"), absent=NO_SWEEP,
             setup=_space("ppo.learning_rate: loguniform(1e-5, 2)\n")),
    BadInput("bad-base-set", (*SWEEP, "--set", "ppo.gamma=3"), ("ppo.gamma", "(0, 1]"), absent=NO_SWEEP, setup=_LR),
    BadInput("eval-track-missing", (*SWEEP, "--set", "eval.tracks=[no_such_track]"), ("eval.tracks", "no_such_track"),
             absent=NO_SWEEP, setup=_LR),
    BadInput("unknown-objective", (*SWEEP, "--objective", "speed"), ("objective 'speed'", "laps, progress, reward"),
             absent=NO_SWEEP, setup=_LR),
    BadInput("no-space", ("sweep", "--trials", "2", "--out", "sw"), ("--space", "--resume"), code=2, absent=NO_SWEEP),
    BadInput("zero-trials", (*SWEEP[:3], "--trials", "0"), ("--trials",), code=2, absent=NO_SWEEP, setup=_LR),
    BadInput("resume-with-space", ("sweep", "--resume", "sw", "--space", "space.yaml"),
             ("--resume sw", "only --address and --cpus", "--space"), code=2, setup=_LR),
    BadInput("cpus-with-address", (*SWEEP, "--address", "auto", "--cpus", "2"), ("--cpus", "--address"), code=2,
             absent=NO_SWEEP, setup=_LR),
    BadInput("resume-not-a-sweep", ("sweep", "--resume", "other"), ("other", "not a sweep folder"),
             setup=_not_a_sweep),
    BadInput("out-holds-a-sweep", SWEEP, ("sw: already holds a sweep", "--resume sw"), setup=_held_sweep,
             absent=("sw/sweep.yaml",)),
    BadInput("sweep-address-unreachable", (*SWEEP, "--address", "127.0.0.1:1"),
             ("--address 127.0.0.1:1: nothing answers there", "ray start --head"), absent=NO_SWEEP, setup=_LR),
    BadInput("eval-address-unreachable", ("eval", "--model", "no_such_run", "--track", "kidney", "--address", "127.0.0.1:1"),
             ("--address 127.0.0.1:1: nothing answers there",)),
    BadInput("no-ray-sweep", SWEEP, ("racingline sweep needs Ray", INSTALL), absent=NO_SWEEP, setup=_hidden_ray),
    BadInput("no-ray-eval-workers", ("eval", "--model", "no_such_run", "--track", "kidney", "--workers", "2"),
             ("racingline eval --workers/--address needs Ray", INSTALL), setup=_hidden_ray),
]


#: Rows whose check comes after the one that Ray is installed.
NEED_RAY = {"out-holds-a-sweep", "sweep-address-unreachable", "eval-address-unreachable"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_sweep_input_is_one_line(tmp_path, monkeypatch, case):
    if case.id in NEED_RAY:
        pytest.importorskip("ray.tune", reason="Ray Tune is the optional sweep extra")
        pytest.importorskip("optuna", reason="Optuna is the optional sweep extra")
    folder = tmp_path / case.id
    if case.id.startswith("no-ray"):
        monkeypatch.setenv("PYTHONPATH", str(folder / "hide"))
    run_bad_input(case, folder)
