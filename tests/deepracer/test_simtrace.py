"""DeepRacer simulation-trace logs: the writer, `racingline eval --sim-trace`, `racingline train --sim-trace`,
and the community's own reader (deepracer-utils) on what racingline writes."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from racingline.deepracer.simtrace import (
    COLUMNS,
    EPISODE_STATUSES,
    SimTraceWriter,
    evaluation_stream,
    next_iteration,
    training_trace_dir,
)

from helpers import SCRATCH


def _info(step: int, *, progress: float = 0.0, lap: bool = False, off: bool = False, wheels: int = 4) -> dict:
    return {"position_m": (1.0 + 0.1 * step, 2.0), "heading_deg": 90.0, "steering_deg": -5.0, "speed_mps": 1.5,
            "progress": progress, "lap_complete": lap, "off_track": off, "wheels_on_road": wheels,
            "closest_waypoint": step, "track_length_m": 17.5, "lap_time_s": 0.04 * step, "lap_steps": step}


def _episode(writer: SimTraceWriter, env: int, n: int, *, end: str = "lap", action: int | None = 2) -> None:
    writer.reset(env, _info(0))
    for k in range(1, n + 1):
        last = k == n
        info = _info(k, progress=100.0 * k / n if end == "lap" else 10.0 * k,
                     lap=last and end == "lap", off=last and end == "off", wheels=0 if last and end == "off" else 4)
        if last and end == "time":
            info["TimeLimit.truncated"] = True
        writer.step(env, info, 1.0, action, last)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_columns_statuses_and_values(tmp_path):
    w = SimTraceWriter(tmp_path / "t", episodes_per_file=3, clock=lambda: 1000.0)
    _episode(w, 0, 4, end="lap")
    _episode(w, 0, 2, end="off", action=None)
    _episode(w, 0, 3, end="time")
    assert [p.name for p in w.written] == ["0-iteration.csv"]  # written once it held 3 episodes
    rows = _rows(w.written[0])
    assert tuple(rows[0]) == COLUMNS
    statuses = [r["episode_status"] for r in rows]
    assert set(statuses) <= set(EPISODE_STATUSES)
    assert statuses[:5] == ["prepare", "in_progress", "in_progress", "in_progress", "lap_complete"]
    assert statuses[5:8] == ["prepare", "in_progress", "off_track"]
    assert statuses[-1] == "time_up"
    assert [r["episode"] for r in rows] == ["0"] * 5 + ["1"] * 3 + ["2"] * 4
    lap = rows[4]
    assert lap["progress"] == "100.0000" and lap["done"] == "True" and lap["action"] == "2"
    assert (lap["X"], lap["Y"], lap["yaw"], lap["steer"], lap["throttle"]) == ("1.4000", "2.0000", "90.0000", "-5.00", "1.50")
    assert lap["track_len"] == "17.50" and lap["closest_waypoint"] == "4" and lap["steps"] == "4"
    assert rows[0]["steps"] == "0" and rows[0]["reward"] == "0.0000" and rows[0]["done"] == "False"
    assert rows[7]["action"] == "-1" and rows[7]["all_wheels_on_track"] == "False"  # continuous; off the road
    # tstamp: simulated seconds, forward across episodes
    times = [float(r["tstamp"]) for r in rows]
    assert times == sorted(times) and float(rows[4]["tstamp"]) == pytest.approx(0.16)


def test_files_per_env_numbering_and_close(tmp_path):
    w = SimTraceWriter(tmp_path / "t", n_envs=2, episodes_per_file=2, first_iteration=5)
    for _ in range(2):
        _episode(w, 1, 2)
    _episode(w, 0, 2)
    w.reset(0, _info(0))  # running when closed: dropped
    w.step(0, _info(1), 1.0, 0, False)
    w.close()
    assert [p.name for p in w.written] == ["5-iteration.csv", "6-iteration.csv"]
    assert {r["episode"] for r in _rows(w.written[0])} == {"10", "11"}  # env 1's full file
    assert {r["episode"] for r in _rows(w.written[1])} == {"12"}  # env 0's finished episode, at close
    assert next_iteration(tmp_path / "t") == 7 and next_iteration(tmp_path / "none") == 0
    assert w.rows_held == 0


def test_short_first_file_is_padded_for_the_loader(tmp_path):
    w = SimTraceWriter(tmp_path / "t", n_envs=2, episodes_per_file=20, pad_first_file=True)
    _episode(w, 0, 2)
    _episode(w, 0, 2)
    _episode(w, 1, 2)
    w.close()
    assert [r["episode"] for r in _rows(w.written[0])][::3] == ["0", "19"]
    assert {r["episode"] for r in _rows(w.written[1])} == {"20"}


def test_atomic_files_leave_nothing_else(tmp_path):
    w = SimTraceWriter(tmp_path / "t", episodes_per_file=1)
    _episode(w, 0, 3)
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["0-iteration.csv"]  # no temporary file
    (tmp_path / "t2").write_text("a file where the folder goes")
    w2 = SimTraceWriter(tmp_path / "t2" / "x", episodes_per_file=1)
    with pytest.raises(OSError):
        _episode(w2, 0, 3)
    assert (tmp_path / "t2").read_text() == "a file where the folder goes"


def test_memory_is_bounded(tmp_path):
    """Rows held never exceed (running + one file) episodes per env, however long training runs."""
    n_envs, per_file, length = 3, 4, 10
    w = SimTraceWriter(tmp_path / "t", n_envs=n_envs, episodes_per_file=per_file)
    for _ in range(25):
        for env in range(n_envs):
            _episode(w, env, length - 1)
    bound = n_envs * (per_file + 1) * length
    assert 0 < w.peak_rows <= bound
    assert w.episodes_written == 25 * n_envs - w.rows_held // length
    w.close()
    assert w.rows_held == 0 and w.episodes_written == 75


def test_evaluation_stream_names(tmp_path):
    a = evaluation_stream(tmp_path, "2022 may/pro", now=0)
    assert a.parent.name.endswith("-2022_may_pro") and a.name == "evaluation-simtrace"
    a.mkdir(parents=True)
    b = evaluation_stream(tmp_path, "2022 may/pro", now=0)
    assert b.parent.name == a.parent.name + "-2"
    assert evaluation_stream(tmp_path, "k", reverse=True, now=0).parent.name.endswith("-k-reversed")


# ---------------------------------------------------------------------------------------------- real runs
def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "MPLBACKEND": "Agg"}
    env.pop("RACINGLINE_TRACKS", None)
    return subprocess.run([sys.executable, "-m", "racingline.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=env, stdin=subprocess.DEVNULL)


def test_eval_sim_trace_loaded_by_deepracer_utils(features_run, tmp_path):
    out = tmp_path / "model"
    proc = _cli("eval", "--model", str(features_run), "--track", "kidney", "--track", "s_bend", "--episodes", "2",
                "--max-steps", "60", "--sim-trace", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    files = sorted(out.glob("sim-trace/evaluation/*/evaluation-simtrace/*-iteration.csv"))
    assert len(files) == 2 and any("kidney" in str(f) for f in files)
    for f in files:
        rows = _rows(f)
        assert {r["episode"] for r in rows} == {"0", "1"}
        assert rows[0]["episode_status"] == "prepare" and rows[-1]["done"] == "True"
    deepracer = pytest.importorskip("deepracer.logs")
    log = deepracer.DeepRacerLog(str(out))
    log.load_evaluation_trace(ignore_metadata=True)
    df = log.dataframe()
    assert df["stream"].nunique() == 2
    agg = deepracer.AnalysisUtils.simulation_agg(df, "stream", is_eval=True)
    assert len(agg) == 4
    assert (agg["steps"] <= 61).all() and (agg["time"] > 0).all()


def test_eval_sim_trace_bad_dir(features_run, tmp_path):
    (tmp_path / "afile").write_text("x")
    proc = _cli("eval", "--model", str(features_run), "--track", "kidney", "--sim-trace", "afile", cwd=tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0 and len(lines) == 1 and "afile" in lines[0] and "--sim-trace" in lines[0]


def test_lap_logged_as_complete_and_loaded(tmp_path):
    """A driven lap (the racing-line controller) through the writer: DeepRacer's summary counts it complete."""
    deepracer = pytest.importorskip("deepracer.logs")
    length_m = _drive_and_log(tmp_path)
    log = deepracer.DeepRacerLog(str(tmp_path / "model"))
    log.load_training_trace(ignore_metadata=True)
    df = log.dataframe()
    agg = deepracer.AnalysisUtils.simulation_agg(df)
    assert len(agg) == 1
    assert agg["progress"].iloc[0] == 100 and agg["complete"].iloc[0] == 1
    assert df["track_len"].iloc[0] == pytest.approx(length_m, abs=0.01)  # the track's length in metres
    assert df["episode_status"].iloc[-1] == "lap_complete"


def _drive_and_log(tmp_path: Path) -> float:
    """Drive one lap of kidney with a simple centerline follower and log it as training iteration 0."""
    import math

    from racingline.sim.env import DeepRacerEnv
    from racingline.tracks.files import load_track

    track = load_track("kidney")
    env = DeepRacerEnv(track, continuous=True, obs="features", frame_skip=2, terminate_on_off_track=True,
                       max_episode_steps=3000)
    w = SimTraceWriter(training_trace_dir(tmp_path / "model"), pad_first_file=True)
    _, info = env.reset(seed=0)
    w.reset(0, info)
    sim = env.sim_track
    while True:
        s = env.state
        i = (s.proj + 12) % len(sim.dense_xy)
        tx, ty = sim.dense_xy[i]
        want = math.atan2(ty - s.y, tx - s.x) - math.pi / 2
        err = math.remainder(want - s.angle, math.tau)
        steer = max(-1.0, min(1.0, -2.0 * err))  # the env negates the action's steer
        gas = 0.3 if s.speed_mps < 1.0 else 0.0
        _, r, term, trunc, info = env.step([steer, gas, 0.0])
        w.step(0, info, r, None, term or trunc)
        if term or trunc:
            break
    env.close()
    w.close()
    assert info["lap_complete"], f"the follower did not lap (progress {info['progress']:.0f}%)"
    return track.length_m


def test_train_sim_trace_loaded_by_deepracer_utils(tmp_path):
    proc = _cli("train", *SCRATCH, "--timesteps", "512", "--n-envs", "2", "--no-progress", "--sim-trace", "--run-dir", "run",
                "--track", "kidney", "--set", "ppo.n_steps=128", "--set", "ppo.batch_size=64",
                "--set", "env.max_episode_steps=60", "--set", "checkpoint_every=0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    files = sorted(training_trace_dir(tmp_path / "run").glob("*-iteration.csv"))
    assert files, "no training sim-trace written"
    deepracer = pytest.importorskip("deepracer.logs")
    log = deepracer.DeepRacerLog(str(tmp_path / "run"))
    log.load_training_trace(ignore_metadata=True)
    df = log.dataframe()
    # 512 steps of 2 envs, episodes of at most 60 steps: at least 4 finished episodes of each env
    episodes = df.groupby(["iteration", "episode"]).ngroups
    assert episodes >= 8 and df["unique_episode"].nunique() == episodes
    assert set(df["episode_status"]) <= set(EPISODE_STATUSES)
    agg = deepracer.AnalysisUtils.simulation_agg(df)
    assert len(agg) == episodes and (agg["steps"] <= 61).all()
    assert (df["track_len"] > 10).all()
