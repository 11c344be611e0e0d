"""The TORCS commands end to end (real processes): bad inputs as one line each, robot races, a tiny PPO run on
TORCS trained and evaluated beside the robots."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import BadInput, run_bad_input

BAD = [
    BadInput("unknown-track", ("torcs", "race", "--track", "road/nowhere"), ("road/nowhere", "no such TORCS track")),
    BadInput("unknown-robot", ("torcs", "race", "--track", "road/g-track-1", "--robot", "nobody"),
             ("nobody", "no such TORCS robot", "bt")),
    BadInput("robot-without-car", ("torcs", "race", "--track", "road/g-track-1", "--robot", "damned:0"),
             ("damned:0", "not installed")),
    BadInput("drive-unknown-track", ("torcs", "drive", "--track", "g-track-9"), ("g-track-9", "no such TORCS track")),
    BadInput("train-unknown-track", ("train", "--config", "torcs", "--set", "env.track=road/nowhere",
                                     "--runs-dir", "{tmp}/runs"), ("road/nowhere", "no such TORCS track"),
             absent=("runs/*",)),
    BadInput("train-pixels", ("train", "--config", "torcs", "--set", "env.obs=pixels", "--runs-dir", "{tmp}/runs"),
             ("env.obs", "features"), absent=("runs/*",)),
    BadInput("record-line-file", ("record", "--driver", "line:{tmp}/line.npy", "--config", "torcs", "--out",
                                  "{tmp}/ds"), ("line optimised per track", "not a line file"),
             absent=("ds",), setup=lambda d: (d / "line.npy").write_bytes(b"")),
    BadInput("eval-unknown-track", ("eval", "--sim", "torcs", "--track", "road/nowhere", "--model", "{tmp}/none"),
             ("road/nowhere", "no such TORCS track")),
    BadInput("eval-bad-sim", ("eval", "--sim", "rfactor", "--model", "{tmp}/none"), ("--sim rfactor",), code=2),
    BadInput("eval-carracing-option", ("eval", "--sim", "torcs", "--reverse", "--model", "{tmp}/none"),
             ("--reverse", "not available", "TORCS"), code=2),
]


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_bad_input_is_one_line(torcs, case, tmp_path):
    run_bad_input(case, tmp_path)


def test_a_port_in_use_is_one_line(torcs, tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", 0))
        port = str(held.getsockname()[1])
        run_bad_input(BadInput("port", ("torcs", "drive", "--port", port), (f"port {port}", "in use")), tmp_path)


def test_torcs_missing_is_one_line(torcs_install, tmp_path, monkeypatch):
    monkeypatch.setenv("RACINGLINE_TORCS", "/nonexistent/torcs")
    for args in (("torcs", "race", "--track", "road/g-track-1"), ("torcs", "drive"),
                 ("train", "--config", "torcs", "--runs-dir", "{tmp}/runs")):
        run_bad_input(BadInput("missing", args, ("RACINGLINE_TORCS=/nonexistent/torcs", "apt-get install")), tmp_path)


def racingline(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "racingline.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ), stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_robots_race_alone_and_report_lap_times(torcs, tmp_path):
    racingline("torcs", "race", "--track", "road/g-track-1", "--robot", "bt", "--json", "robots.json", cwd=tmp_path)
    (row,) = json.loads((tmp_path / "robots.json").read_text())
    assert row["track"] == "road/g-track-1" and row["robot"] == "bt:0" and row["laps"] == 1
    assert 40.0 < row["time_s"] < 60.0  # bt's lap of g-track-1 from a standing start (47.5 s here)


def test_train_and_eval_on_torcs(torcs, tmp_path):
    # The shipped recipe, shrunk: two controller laps recorded and cloned, one DAgger round, PPO.
    racingline("train", "--config", "torcs", "--timesteps", "128", "--n-envs", "2", "--set", "ppo.n_steps=64",
               "--set", "ppo.batch_size=64", "--set", "env.track=[road/g-track-1, road/e-track-1]",
               "--set", "demos.episodes=2", "--set", "demos.tracks=[road/g-track-1]", "--set", "demos.epochs=2",
               "--set", "demos.dagger_rounds=1", "--set", "demos.dagger_episodes=1",
               "--set", "env.max_episode_steps=300", "--run-dir", "run", "--no-progress", cwd=tmp_path)
    assert (tmp_path / "run" / "model.zip").is_file()
    pre = json.loads((tmp_path / "run" / "pretrain.json").read_text())
    assert pre["episodes"] == 2 and pre["driver"] == "line:mincurv" and len(pre["dagger"]) == 1
    assert pre["heldout_action_error"] is None or pre["heldout_action_error"] < pre["heldout_action_error_before"]
    # Its picture: the path driven on a TORCS track, drawn over TORCS's own track description.
    pic = racingline("plot-trajectories", "--model", "run", "--track", "road/g-track-2", "--max-steps", "60",
                     "--out", "paths.png", cwd=tmp_path)
    assert "1 TORCS tracks" in pic.stdout and (tmp_path / "paths.png").stat().st_size > 10_000
    done = racingline("eval", "--model", "run", "--track", "road/g-track-2", "--max-steps", "40", "--json", "ev.json",
                      cwd=tmp_path)
    report = json.loads((tmp_path / "ev.json").read_text())
    (track,) = report["tracks"]
    assert track["track"] == "road/g-track-2" and len(track["episodes"]) == 1
    assert track["episodes"][0]["steps"] <= 40
    (robots,) = report["robots"]
    assert set(robots) >= {"track", "agent_lap_s", "bt:0", "berniw:1", "ratio"} and robots["bt:0"] > 0
    assert "bt:0 s" in done.stdout
