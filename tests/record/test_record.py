"""Recording driven episodes into Minari datasets: the line, model and training drivers, eval --record,
crash safety (kill -9, Ctrl-C), bounded memory, and reading back with Minari's own loader."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import minari
import numpy as np
import pytest
from typer.testing import CliRunner

from racingline.cli import app
from racingline.record.dataset import STEP_FIELDS, DatasetError, DatasetWriter, open_dataset
from racingline.record.recorder import parse_driver, record_dataset
from racingline.record.wrapper import RecordEpisodes, RecordSpec
from racingline.sim.wrappers import make_env

from helpers import SCRATCH

runner = CliRunner()


def _cli_env(folder: Path) -> dict[str, str]:
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", "MPLBACKEND": "Agg",
           "XDG_CACHE_HOME": str(folder / ".cache")}
    env.pop("RACINGLINE_TRACKS", None)
    return env


def _check_whole(path: Path) -> minari.MinariDataset:
    """The dataset loads with Minari and every episode in it is whole: it ends terminated or truncated,
    its arrays agree in length, and its metadata agrees with its data."""
    ds = minari.MinariDataset(path / "data")
    ours = open_dataset(path)
    assert ds.total_episodes == ours.total_episodes
    total = 0
    for ep, meta in zip(ds.iterate_episodes(), (ours.episode_meta(i) for i in range(ds.total_episodes))):
        n = len(ep.actions)
        assert n >= 1 and len(ep.observations) == n + 1 and len(ep.rewards) == n
        assert bool(ep.terminations[-1]) or bool(ep.truncations[-1])
        assert not np.any(ep.terminations[:-1]) and not np.any(ep.truncations[:-1])
        assert meta["steps"] == n == meta["total_steps"]
        for field in STEP_FIELDS:
            assert ep.infos[field].shape == (n + 1,)
        total += n
    assert total == ds.total_steps
    return ds


def test_line_driver_records_laps_that_minari_loads(env):
    res = runner.invoke(app, ["record", "--driver", "line:mincurv", "--track", "kidney", "--episodes", "2",
                              "--out", "demos", "--set", "env.start_waypoint=random", "--set", "env.reverse=random"])
    assert res.exit_code == 0, res.output
    ds = _check_whole(env / "demos")
    assert ds.total_episodes == 2
    assert ds.observation_space.shape == (37,) and ds.action_space.shape == (3,)
    ours = open_dataset(env / "demos")
    for ep in ours.episodes():
        m = ep.meta
        assert m["driver"] == "line:mincurv" and m["track"] == "kidney" and m["lap_complete"] is True
        assert m["end"] == "lap" and 5.0 < m["lap_time_s"] < 30.0
        # The car state per step is the simulator's: progress ends at 100 %, lap time at the lap's.
        assert ep.infos["progress"][-1] == pytest.approx(100.0)
        assert ep.infos["lap_time_s"][-1] == pytest.approx(m["lap_time_s"])
        assert ep.infos["progress"][0] == pytest.approx(0.0)
        assert ep.infos["off_track"].sum() == 0
        assert np.all(ep.infos["speed_mps"][1:] >= 0) and ep.infos["speed_mps"].max() > 1.5
        # Actions are CarRacing's [steer, gas, brake] as the controller gave them.
        assert np.all(np.abs(ep.actions[:, 0]) <= 1) and ep.actions[:, 1].max() > 0.5
        # Observations are the features env's (finite, not all equal).
        assert np.isfinite(ep.observations).all() and ep.observations.std(axis=0).max() > 0
    # The start and direction are recorded per episode, as drawn.
    metas = [ours.episode_meta(i) for i in range(2)]
    assert all(isinstance(m["start_waypoint"], int) and isinstance(m["reversed"], bool) for m in metas)

    info = runner.invoke(app, ["record", "--info", "demos", "--json"])
    assert info.exit_code == 0, info.output
    summary = json.loads(info.output)
    assert summary["episodes"] == 2 and summary["laps"] == 2 and summary["drivers"] == ["line:mincurv"]
    assert sum(summary["tracks"].values()) == 2
    text = runner.invoke(app, ["record", "--info", "demos"])
    assert "episodes 2" in text.output and "laps 2/2" in text.output


def test_recorded_steps_replay_in_the_simulator(env):
    """The dataset holds what happened: replaying its actions from the same reset reproduces its states."""
    res = record_dataset("line:mincurv", env / "ds", tracks=["s_bend"], episodes=1, seed=3, max_steps=120,
                         start_waypoint=5)
    assert res.episodes == 1 and res.steps == 120
    ep = next(open_dataset(env / "ds").episodes())
    from racingline.train.config import env_kwargs, load_config

    kw = env_kwargs(load_config("default").env)
    kw.update(track="s_bend", track_weights=None, start_waypoint=5, max_episode_steps=120)
    sim = make_env(**kw)
    obs, _ = sim.reset(seed=3)
    assert np.array_equal(obs, ep.observations[0])
    for t, action in enumerate(ep.actions):
        obs, reward, term, trunc, info = sim.step(action)
        assert np.array_equal(obs, ep.observations[t + 1])
        assert reward == pytest.approx(ep.rewards[t])
        assert info["position_m"][0] == pytest.approx(ep.infos["x_m"][t + 1])
    assert trunc and ep.truncations[-1]
    sim.close()


def test_model_driver_and_eval_record(env, features_run):
    res = runner.invoke(app, ["record", "--driver", f"model:{features_run}", "--episodes", "2", "--max-steps", "40",
                              "--out", "from_model"])
    assert res.exit_code == 0, res.output
    ds = _check_whole(env / "from_model")
    assert ds.total_episodes == 2 and ds.action_space.n == 5  # the tiny run acts in CarRacing's discrete actions
    assert open_dataset(env / "from_model").episode_meta(0)["driver"] == f"model:{features_run}"

    res = runner.invoke(app, ["eval", "--model", str(features_run), "--track", "kidney", "--track", "s_bend",
                              "--episodes", "2", "--max-steps", "30", "--record", "evals"])
    assert res.exit_code == 0, res.output
    ds = _check_whole(env / "evals")
    ours = open_dataset(env / "evals")
    assert ds.total_episodes == 4
    assert [ours.episode_meta(i)["track"] for i in range(4)] == ["kidney", "kidney", "s_bend", "s_bend"]
    assert all(ours.episode_meta(i)["steps"] == 30 for i in range(4))
    # The evaluation's actions are the deterministic policy's: the same start gives the same episode.
    a, b = ours.episodes([0, 1])
    assert np.array_equal(a.actions, b.actions)
    # Recording again into it needs --record-append; then it grows.
    again = runner.invoke(app, ["eval", "--model", str(features_run), "--track", "kidney", "--max-steps", "30",
                                "--record", "evals"])
    assert again.exit_code == 1 and "already there" in again.output
    again = runner.invoke(app, ["eval", "--model", str(features_run), "--track", "kidney", "--max-steps", "30",
                                "--record", "evals", "--record-append"])
    assert again.exit_code == 0, again.output
    assert _check_whole(env / "evals").total_episodes == 5


@pytest.mark.parametrize("vec_env", ["split", "subproc"])
def test_training_records_every_nth_episode(env, vec_env):
    args = ["train", *SCRATCH, "--timesteps", "1024", "--n-envs", "2", "--no-progress", "--record-every", "2",
            "--run-dir", "run", "--set", "env.max_episode_steps=60", "--set", "ppo.n_steps=256",
            "--set", "ppo.batch_size=128", "--set", f"vec_env={vec_env}", "--set", "env.track=[kidney]",
            "--set", "env.track_weights=null"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    ds = _check_whole(env / "run" / "recordings")
    # Env 0 ran 512 steps: about 8 episodes of at most 60 steps; every 2nd was recorded, whole.
    assert 2 <= ds.total_episodes <= 5
    ours = open_dataset(env / "run" / "recordings")
    assert ours.meta["record_every"] == 2 and ours.episode_meta(0)["driver"] == "training:run"
    assert not list((env / "run" / "recordings").glob(".scratch-*"))
    # A resumed run adds to the same dataset.
    before = ds.total_episodes
    res = runner.invoke(app, ["train", "--resume", "run", "--timesteps", "2048", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert _check_whole(env / "run" / "recordings").total_episodes == before  # not asked to record this time
    res = runner.invoke(app, ["train", "--resume", "run", "--timesteps", "3072", "--no-progress",
                              "--record-every", "1"])
    assert res.exit_code == 0, res.output
    assert _check_whole(env / "run" / "recordings").total_episodes > before


def test_memory_holds_one_episode_at_most(env):
    """Episodes stream to disk: the writer never holds more than the episode being driven."""
    kw = dict(track="kidney", obs="features", continuous=True, frame_skip=2, reward="progress", max_episode_steps=25,
              start_waypoint="random")
    rec = RecordEpisodes(make_env(**kw), RecordSpec(env / "many"))
    rng = np.random.default_rng(0)
    peaks = []
    for i in range(40):
        rec.reset(seed=i)
        done = False
        while not done:
            _, _, term, trunc, _ = rec.step(rng.uniform([-1, 0, 0], [1, 1, 0.2]).astype(np.float32))
            done = term or trunc
        assert rec.writer.held_steps == 0  # written and released at the episode's end
        peaks.append(rec.writer.peak_held_steps)
    rec.close()
    assert rec.episodes_recorded == 40
    assert max(peaks) <= 25  # never more than one episode, however many were recorded
    assert _check_whole(env / "many").total_steps > 25 * 10


def test_interrupted_episode_is_dropped_and_append_continues(env):
    kw = dict(track="kidney", obs="features", continuous=True, frame_skip=2, max_episode_steps=20)
    spaces = make_env(**kw)
    w = DatasetWriter(env / "ds", spaces.observation_space, spaces.action_space)
    rec = RecordEpisodes(spaces, RecordSpec(env / "ignored"))
    obs, _ = rec.env.reset(seed=0)
    for n in range(2):
        w.begin(obs, rec.unwrapped.state)
        for _ in range(5 + n):
            action = np.array([0.0, 1.0, 0.0], np.float32)
            obs, r, term, trunc, _ = rec.env.step(action)
            w.step(action, obs, r, term, trunc, rec.unwrapped.state)
        if n == 0:
            w.end()
    w.close()  # the second episode was not ended: it is not in the dataset
    ds = _check_whole(env / "ds")
    assert ds.total_episodes == 1 and ds.total_steps == 5
    assert bool(ds[0].truncations[-1])  # ended by the recorder: marked truncated
    # A stray episode folder past the count (a crash between the move and the count) is replaced on append.
    stray = env / "ds" / "data" / "1"
    stray.mkdir()
    (stray / "junk").write_text("x")
    w = DatasetWriter(env / "ds", spaces.observation_space, spaces.action_space, append=True)
    assert not stray.exists()
    w.begin(obs, rec.unwrapped.state)
    obs, r, term, trunc, _ = rec.env.step(np.zeros(3, np.float32))
    w.step(np.zeros(3, np.float32), obs, r, term, trunc, rec.unwrapped.state)
    assert w.end() == 1
    w.close()
    assert _check_whole(env / "ds").total_episodes == 2
    with pytest.raises(DatasetError, match="already there"):
        DatasetWriter(env / "ds", spaces.observation_space, spaces.action_space)
    pixels = make_env(track="kidney", obs="pixels")
    with pytest.raises(DatasetError, match="observations"):
        DatasetWriter(env / "ds", pixels.observation_space, pixels.action_space, append=True)
    spaces.close()
    pixels.close()


def _wait_for_episodes(path: Path, n: int, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
    meta = path / "data" / "metadata.json"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if meta.exists() and json.loads(meta.read_text())["total_episodes"] >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{n} episodes were not recorded in {timeout_s} s")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_recording_leaves_only_whole_episodes(env, sig):
    cmd = [sys.executable, "-m", "racingline.cli", "record", "--driver", "line:centerline", "--track", "kidney",
           "--episodes", "500", "--out", "ds", "--set", "env.start_waypoint=random"]
    proc = subprocess.Popen(cmd, cwd=env, env=_cli_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_episodes(env / "ds", 2, proc)
        time.sleep(0.15)  # well inside the next episode (one lap is ~300 steps)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "Traceback" not in err, err
        assert "interrupted by SIGINT" in err
        assert not list((env / "ds").glob(".scratch-*"))  # cleaned up
    else:
        assert proc.returncode == -signal.SIGKILL
    ds = _check_whole(env / "ds")
    assert 2 <= ds.total_episodes < 500
    for ep in ds.iterate_episodes():
        assert bool(ep.terminations[-1])  # every episode in it is a whole lap: none was cut
    # The dataset can be added to afterwards.
    res = runner.invoke(app, ["record", "--driver", "line:centerline", "--track", "kidney", "--episodes", "1",
                              "--out", str(env / "ds"), "--append"])
    assert res.exit_code == 0, res.output
    assert _check_whole(env / "ds").total_episodes == ds.total_episodes + 1


def test_parse_driver():
    assert parse_driver("line:mincurv").kind == "line"
    assert parse_driver("model:runs/x").source == "runs/x"
    assert parse_driver("human").label == "human"
    for bad in ("bogus", "line:", "model", "human:x"):
        with pytest.raises(Exception, match="--driver"):
            parse_driver(bad)
