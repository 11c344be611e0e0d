"""Bad inputs to ``racingline record`` and ``eval --record``: each row is a real process that must fail with
one ``error:`` line naming the input, no traceback, and no dataset (or temporary file) left behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import BadInput, run_bad_input

LINE = ("record", "--driver", "line:mincurv", "--track", "kidney", "--episodes", "1", "--max-steps", "5")


def _dataset(folder: Path, name: str = "ds", obs: str = "features") -> Path:
    """A small real dataset (2 episodes of 3 steps) at ``folder/name``."""
    from racingline.record.dataset import DatasetWriter
    from racingline.sim.wrappers import make_env

    env = make_env("kidney", obs=obs, continuous=True, frame_skip=2, max_episode_steps=3)
    w = DatasetWriter(folder / name, env.observation_space, env.action_space)
    for i in range(2):
        obs_, _ = env.reset(seed=i)
        w.begin(obs_, env.unwrapped.state)
        done = False
        while not done:
            a = np.array([0.0, 1.0, 0.0], np.float32)
            obs_, r, term, trunc, _ = env.step(a)
            w.step(a, obs_, r, term, trunc, env.unwrapped.state)
            done = term or trunc
        w.end()
    w.close()
    env.close()
    return folder / name


def _truncated(folder: Path) -> None:
    shutil.rmtree(_dataset(folder) / "data" / "1")


def _empty(folder: Path) -> None:
    ds = _dataset(folder)
    meta = json.loads((ds / "data" / "metadata.json").read_text())
    meta.update(total_episodes=0, total_steps=0)
    (ds / "data" / "metadata.json").write_text(json.dumps(meta))


def _garbled(folder: Path) -> None:
    ds = _dataset(folder)
    (ds / "data" / "metadata.json").write_text("{not json")


def _not_dataset(folder: Path) -> None:
    (folder / "stuff").mkdir()
    (folder / "stuff" / "notes.txt").write_text("hello\n")


def _line_file(folder: Path) -> None:
    from racingline.lines.line import save_line
    from racingline.lines.optimize import optimize_line
    from racingline.tracks.files import load_track

    save_line(optimize_line(load_track("s_bend"), "centerline"), folder / "s_bend.npz")


def _discrete_config(folder: Path) -> None:
    (folder / "discrete.yaml").write_text("env:\n  continuous: false\n  obs: features\n")


CASES = [
    BadInput("unknown driver", ("record", "--driver", "bogus", "--out", "ds"), ("--driver", "bogus"), absent=("ds",)),
    BadInput("line without method", ("record", "--driver", "line:", "--out", "ds"), ("--driver",), absent=("ds",)),
    BadInput("unknown line method", ("record", "--driver", "line:fastest", "--track", "kidney", "--out", "ds"),
             ("line:fastest",), absent=("ds",)),
    BadInput("human via record", ("record", "--driver", "human", "--out", "ds"), ("drive --human",), code=2,
             absent=("ds",)),
    BadInput("no out", ("record", "--driver", "line:mincurv"), ("--out",), code=2),
    BadInput("unknown track", (*LINE[:3], "--track", "no_such_track", "--out", "ds"), ("no_such_track",),
             absent=("ds",)),
    BadInput("missing run", ("record", "--driver", "model:runs/nothing", "--out", "ds"), ("runs/nothing",),
             absent=("ds",)),
    BadInput("dataset exists", (*LINE, "--out", "ds"), ("ds", "already there", "--append"), setup=_dataset),
    BadInput("out is not a dataset", (*LINE, "--out", "stuff"), ("stuff", "not a dataset"), setup=_not_dataset),
    BadInput("out under a file", (*LINE, "--out", "afile/ds"), ("afile",),
             setup=lambda f: (f / "afile").write_text("x")),
    BadInput("append other observations", (*LINE, "--set", "env.obs=pixels", "--out", "ds", "--append"),
             ("ds", "observations", "(64, 64, 1)", "(37,)"), setup=_dataset),
    BadInput("line file for another track", ("record", "--driver", "line:s_bend.npz", "--track", "kidney",
                                             "--out", "ds", "--max-steps", "5"),
             ("s_bend", "kidney"), setup=_line_file, absent=("ds",)),
    BadInput("line driver on discrete actions", (*LINE, "--config", "discrete.yaml", "--out", "ds"),
             ("continuous", "discrete"), setup=_discrete_config, absent=("ds",)),
    BadInput("bad set key", (*LINE, "--set", "env.nope=1", "--out", "ds"), ("env.nope",), absent=("ds",)),
    BadInput("bad start", (*LINE, "--start", "first", "--out", "ds"), ("--start",), code=2, absent=("ds",)),
    BadInput("info missing", ("record", "--info", "nothing"), ("nothing", "no such dataset")),
    BadInput("info not a dataset", ("record", "--info", "stuff"), ("stuff", "not a dataset"), setup=_not_dataset),
    BadInput("info truncated", ("record", "--info", "ds"), ("ds", "truncated", "episode 1"), setup=_truncated),
    BadInput("info empty", ("record", "--info", "ds"), ("ds", "empty"), setup=_empty),
    BadInput("info garbled", ("record", "--info", "ds"), ("ds", "metadata"), setup=_garbled),
    BadInput("info with driver", ("record", "--info", "ds", "--driver", "line:mincurv"), ("--info",), code=2,
             setup=_dataset),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_record_bad_input(case: BadInput, tmp_path: Path) -> None:
    run_bad_input(case, tmp_path)


def test_eval_record_bad_inputs(tmp_path: Path, features_run: Path) -> None:
    run = str(features_run)
    exists = BadInput("eval record exists", ("eval", "--model", run, "--track", "kidney", "--max-steps", "5",
                                             "--record", "ds"), ("--record", "already there", "--record-append"),
                      setup=_dataset)
    run_bad_input(exists, tmp_path / "a")
    other = BadInput("eval record other spaces", ("eval", "--model", run, "--track", "kidney", "--max-steps", "5",
                                                  "--record", "ds", "--record-append"), ("ds", "actions"),
                     setup=_dataset)  # the tiny run acts in Discrete(5); the dataset holds Box(3,) actions
    run_bad_input(other, tmp_path / "b")
    lone = BadInput("record-append alone", ("eval", "--model", run, "--record-append"), ("--record",), code=2)
    run_bad_input(lone, tmp_path / "c")
