"""Bad outputs, usage errors and honest hints: each row is a real ``racingline`` process that must fail with
one ``error:`` line naming the input, the right exit code, no traceback, and nothing written.

Unwritable outputs are checked before any work: a folder given as an output file, an output under a
*file*, and a place where files cannot be created (``/sys/kernel`` and ``/proc/self``: root ignores file
permissions, but these file systems refuse new files even to root: ``EACCES`` and ``ENOENT`` here).
No row trains, measures or renders.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import pytest

from helpers import SCRATCH, BadInput, run_bad_input

RUNS = ("runs", "runs/*")  # training rows: no run folder may be made


def _unwritable(folder: str) -> bool:
    """``folder`` exists and refuses a new file (else rows using it are skipped)."""
    if not os.path.isdir(folder):
        return False
    try:
        fd, probe = tempfile.mkstemp(dir=folder)
    except OSError:
        return True
    os.close(fd)
    os.unlink(probe)
    return False


SYS = "/sys/kernel"  # EACCES (EPERM for mkdir), even for root
PROC = "/proc/self"  # ENOENT for new files, even for root
READ_ONLY = {SYS: _unwritable(SYS), PROC: _unwritable(PROC)}


def _files(folder: Path) -> None:
    """``afile`` (a plain file, used as a parent folder), ``adir`` and the folders named like outputs."""
    (folder / "afile").write_text("not a folder\n")
    for name in ("adir", "d.npy", "p.png", "g.gif", "e.json"):
        (folder / name).mkdir()


def row(id: str, args: tuple[str, ...], expect: tuple[str, ...], code: int = 1,
        absent: tuple[str, ...] = (), setup=_files):
    """A :class:`BadInput`, skipped when it needs a read-only place this machine does not have."""
    case = BadInput(id=id, args=args, expect=expect, code=code, absent=absent, setup=setup)
    ro = [p for p in READ_ONLY if any(a.startswith(p) for a in args)]
    marks = [pytest.mark.skipif(not READ_ONLY[p], reason=f"{p} accepts new files here") for p in ro]
    return pytest.param(case, id=id, marks=marks)


TRAIN = ("train", *SCRATCH, "--timesteps", "64", "--no-progress")
EVAL = ("eval", "--model", "{run}", "--track", "kidney", "--max-steps", "5")
PLOT = ("plot-trajectories", "--model", "{run}", "--track", "kidney", "--max-steps", "5")
GIF = ("gif", "--model", "{run}", "--track", "kidney", "--steps", "2")
BENCH = ("bench", "--env-seconds", "0.5", "--no-ppo", "--only", "features")
DOWNLOAD = ("tracks", "download", "2022_may_pro", "--source", "{tmp}")  # a local source: never the network

OUTPUTS = [
    # train: --run-dir is the run's folder itself, --runs-dir the folder new runs are made in
    row("train-run-dir-is-a-file", (*TRAIN, "--run-dir", "afile"), ("--run-dir afile", "is a file, not a folder"),
        absent=RUNS),
    row("train-run-dir-under-a-file", (*TRAIN, "--run-dir", "afile/run"),
        ("--run-dir afile/run", "afile is a file, not a folder"), absent=RUNS),
    row("train-run-dir-read-only", (*TRAIN, "--run-dir", f"{SYS}/run"),
        (f"--run-dir {SYS}/run", f"{SYS} is not writable"), absent=RUNS),
    row("train-runs-dir-is-a-file", (*TRAIN, "--runs-dir", "afile"), ("--runs-dir afile", "is a file, not a folder"),
        absent=RUNS),
    row("train-runs-dir-under-a-file", (*TRAIN, "--runs-dir", "afile/runs"),
        ("--runs-dir afile/runs", "afile is a file, not a folder"), absent=RUNS),
    row("train-runs-dir-read-only", (*TRAIN, "--runs-dir", PROC), (f"--runs-dir {PROC}", "not writable"),
        absent=RUNS),
    # bench --json: checked before minutes of measuring
    row("bench-json-is-a-directory", (*BENCH, "--json", "adir"), ("--json adir", "is a directory")),
    row("bench-json-under-a-file", (*BENCH, "--json", "afile/b.json"), ("afile/b.json", "afile is a file")),
    row("bench-json-read-only", (*BENCH, "--json", f"{PROC}/b.json"), (f"{PROC}/b.json", "not writable")),
    # tracks show / generate --out
    row("show-out-is-a-directory", ("tracks", "show", "kidney", "--out", "adir"), ("--out adir", "is a directory")),
    row("show-out-under-a-file", ("tracks", "show", "kidney", "--out", "afile/k.png"),
        ("afile/k.png", "afile is a file, not a folder")),
    row("show-out-read-only", ("tracks", "show", "kidney", "--out", f"{SYS}/k.png"),
        (f"--out {SYS}/k.png", f"folder {SYS} is not writable")),
    row("generate-out-is-a-directory", ("tracks", "generate", "--seed", "1", "--out", "d.npy"),
        ("--out d.npy", "is a directory")),
    row("generate-out-under-a-file", ("tracks", "generate", "--seed", "1", "--out", "afile/t.npy"),
        ("afile/t.npy", "afile is a file, not a folder")),
    row("generate-out-read-only", ("tracks", "generate", "--seed", "1", "--out", f"{PROC}/t.npy"),
        (f"{PROC}/t.npy", "not writable")),
    # tracks download --dest
    row("download-dest-is-a-file", (*DOWNLOAD, "--dest", "afile"), ("--dest afile", "is a file, not a folder")),
    row("download-dest-under-a-file", (*DOWNLOAD, "--dest", "afile/tracks"),
        ("--dest afile/tracks", "afile is a file, not a folder")),
    row("download-dest-read-only", (*DOWNLOAD, "--dest", f"{SYS}/tracks"),
        (f"--dest {SYS}/tracks", f"{SYS} is not writable")),
    # eval --json, plot-trajectories --out, gif --out
    row("eval-json-is-a-directory", (*EVAL, "--json", "e.json"), ("--json e.json", "is a directory")),
    row("eval-json-under-a-file", (*EVAL, "--json", "afile/e.json"), ("afile/e.json", "afile is a file")),
    row("eval-json-read-only", (*EVAL, "--json", f"{PROC}/e.json"), (f"{PROC}/e.json", "not writable")),
    row("plot-out-is-a-directory", (*PLOT, "--out", "p.png"), ("--out p.png", "is a directory")),
    row("plot-out-under-a-file", (*PLOT, "--out", "afile/p.png"), ("afile/p.png", "afile is a file")),
    row("plot-out-read-only", (*PLOT, "--out", f"{SYS}/p.png"), (f"{SYS}/p.png", "not writable")),
    row("gif-out-is-a-directory", (*GIF, "--out", "g.gif"), ("--out g.gif", "is a directory")),
    row("gif-out-under-a-file", (*GIF, "--out", "afile/g.gif"), ("afile/g.gif", "afile is a file")),
    row("gif-out-read-only", (*GIF, "--out", f"{PROC}/g.gif"), (f"{PROC}/g.gif", "not writable")),
]

USAGE = [
    row("train-n-envs-0", ("train", "--n-envs", "0"), ("--n-envs",), code=2, absent=RUNS, setup=None),
    row("train-timesteps-negative", ("train", "--timesteps", "-5"), ("--timesteps",), code=2, absent=RUNS,
        setup=None),
    row("train-unknown-option", ("train", "--bogus"), ("no such option", "--bogus"), code=2, absent=RUNS,
        setup=None),
    row("eval-episodes-0", ("eval", "--model", "{run}", "--episodes", "0"), ("--episodes 0", "must be positive"),
        code=2, setup=None),
    row("eval-episodes-not-a-number", ("eval", "--model", "{run}", "--episodes", "x"), ("--episodes",), code=2,
        setup=None),
    row("bench-only-bad-choice", ("bench", "--only", "nosuch"), ("--only nosuch", "features"), code=2, setup=None),
    row("tracks-unknown-command", ("tracks", "nosuch"), ("no such command", "nosuch"), code=2, setup=None),
    row("show-missing-argument", ("tracks", "show"), ("missing argument",), code=2, setup=None),
    row("generate-missing-option", ("tracks", "generate", "--out", "t.npy"), ("missing option", "--seed"), code=2,
        absent=("t.npy",), setup=None),
]

HONESTY = [
    row("show-unknown-name-suggests", ("tracks", "show", "kidny"),
        ("kidny", "not a known DeepRacer track", "closest: kidney", "local tracks:"), absent=("*.png",), setup=None),
    row("show-unknown-name-no-download-hint", ("tracks", "show", "zz_nothing_like_it"),
        ("zz_nothing_like_it is not a known DeepRacer track", "racingline tracks list"), absent=("*.png",),
        setup=None),
    row("show-catalog-name-download-hint", ("tracks", "show", "2022_may_pro"),
        ("no such track file", "racingline tracks download 2022_may_pro"), absent=("*.png",), setup=None),
    row("train-unknown-track-suggests", ("train", "--track", "kidny", "--timesteps", "64"),
        ("kidny", "not a known DeepRacer track", "kidney"), absent=RUNS, setup=None),
    row("eval-unknown-track-suggests", ("eval", "--model", "{run}", "--track", "s_bendd"),
        ("s_bendd", "not a known DeepRacer track", "s_bend"), setup=None),
    row("download-unknown-name-suggests", ("tracks", "download", "2022_may_pr", "--dest", "d"),
        ("2022_may_pr: unknown track name", "2022_may_pro"), absent=("d",), setup=None),
    row("download-source-is-a-file", ("tracks", "download", "2022_may_pro", "--source", "afile", "--dest", "d"),
        ("afile", "is a file, not a folder", "--source"), absent=("d",)),
    row("eval-set-bad-value", ("eval", "--model", "{run}", "--set", "env.obs=bogus"), ("env.obs", "bogus"),
        setup=None),
    row("eval-set-unknown-key", ("eval", "--model", "{run}", "--set", "nosuch.key=1"),
        ("nosuch.key", "unknown config key"), setup=None),
    row("plot-set-unknown-key", ("plot-trajectories", "--model", "{run}", "--set", "env.nosuch=1", "--out", "p.png"),
        ("env.nosuch", "unknown config key"), absent=("p.png",), setup=None),
    row("gif-set-not-key-value", ("gif", "--model", "{run}", "--set", "env.obs", "--out", "g.gif"),
        ("--set env.obs", "key=value"), absent=("g.gif",), setup=None),
]


@pytest.mark.parametrize("case", OUTPUTS + USAGE + HONESTY)
def test_bad_input(case: BadInput, tmp_path, request):
    if any("{run}" in a for a in case.args):
        run = str(request.getfixturevalue("features_run"))
        case = dataclasses.replace(case, args=tuple(a.replace("{run}", run) for a in case.args))
    run_bad_input(case, tmp_path / "case")


def test_write_check_leaves_no_probe_file(tmp_path):
    """A write check that passes makes and removes a probe file: the output folder is left as it was."""
    case = BadInput(id="probe", args=("tracks", "download", "2022_may_pr", "--dest", "adir"),
                    expect=("2022_may_pr: unknown track name",), setup=_files)
    run_bad_input(case, tmp_path)
    assert list((tmp_path / "adir").iterdir()) == []
