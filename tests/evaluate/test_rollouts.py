"""Tests of racingline.evaluate.rollouts (and racingline.train.runs loading): run files, eval envs, rollouts, lap metrics."""

from __future__ import annotations

import json
import os
import pickle
import shutil

import numpy as np
import pytest

from racingline.errors import ConfigError, ModelError, RunError
from racingline.evaluate.rollouts import EvalReport, evaluate, make_eval_env, resolve_eval_tracks, rollout
from racingline.tracks.files import PROJECT_TRACKS_DIR, Track, TrackError, load_track
from racingline.train.runs import LoadedRun, latest_run, load_run, resolve_run_files

from helpers import copy_run

TRACK = "rounded_rectangle"


# ------------------------------------------------------------------------------------------- run files
def test_resolve_run_files_from_folder_and_zip(features_run):
    model, config, stats = resolve_run_files(features_run)
    assert (model, config, stats) == (features_run / "model.zip", features_run / "config.yaml",
                                      features_run / "vecnormalize.pkl")
    assert resolve_run_files(features_run / "model.zip") == (model, config, stats)


def test_checkpoint_prefers_its_own_statistics(features_run, tmp_path):
    run = copy_run(features_run, tmp_path / "run")
    ckpt = run / "checkpoints"
    ckpt.mkdir()
    shutil.copy(run / "model.zip", ckpt / "step_000000256.zip")
    shutil.copy(run / "vecnormalize.pkl", ckpt / "step_000000256_vecnormalize.pkl")
    shutil.copy(run / "model.zip", ckpt / "ppo_512_steps.zip")
    shutil.copy(run / "vecnormalize.pkl", ckpt / "ppo_vecnormalize_512_steps.pkl")
    shutil.copy(run / "model.zip", ckpt / "other.zip")
    assert resolve_run_files(ckpt / "step_000000256.zip") == (
        ckpt / "step_000000256.zip", run / "config.yaml", ckpt / "step_000000256_vecnormalize.pkl")
    assert resolve_run_files(ckpt / "ppo_512_steps.zip")[2] == ckpt / "ppo_vecnormalize_512_steps.pkl"
    assert resolve_run_files(ckpt / "other.zip")[2] == run / "vecnormalize.pkl"


def test_missing_run_inputs_are_run_errors(features_run, tmp_path):
    with pytest.raises(RunError, match="no such run folder or model file"):
        resolve_run_files(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match=r"empty: not a run folder \(no model.zip"):
        resolve_run_files(tmp_path / "empty")
    run = copy_run(features_run, tmp_path / "noconfig")
    (run / "config.yaml").unlink()
    with pytest.raises(RunError, match="no config.yaml"):
        resolve_run_files(run)
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(RunError, match="notes.txt: expected a run folder or a model .zip"):
        resolve_run_files(tmp_path / "notes.txt")


def test_load_run_reads_config_model_and_stats(features_run):
    run = load_run(features_run)
    assert isinstance(run, LoadedRun)
    assert run.config.env.obs == "features" and run.config.env.track == TRACK
    assert run.stats_path == features_run / "vecnormalize.pkl"
    assert run.model.observation_space.shape == (37,)


def test_load_run_rejects_garbage_model(features_run, tmp_path):
    run = copy_run(features_run, tmp_path / "run")
    (run / "model.zip").write_bytes(b"not a zip at all")
    with pytest.raises(ModelError, match=r"model.zip: not a loadable Stable-Baselines3 PPO model"):
        load_run(run)


def test_load_run_rejects_bad_config(features_run, tmp_path):
    run = copy_run(features_run, tmp_path / "unknown", **{"env.colour": "red"})
    with pytest.raises(ConfigError, match=r"unknown config key 'env.colour'"):
        load_run(run)
    run = copy_run(features_run, tmp_path / "badtype", **{"env.size": "big"})
    with pytest.raises(ConfigError, match=r"config key 'env.size' must be an integer"):
        load_run(run)


def test_normalised_observations_need_statistics(features_run, tmp_path):
    run = copy_run(features_run, tmp_path / "run", norm_obs=True)
    (run / "vecnormalize.pkl").unlink()
    with pytest.raises(RunError, match="norm_obs: true.*no vecnormalize.pkl"):
        load_run(run)


def test_latest_run_is_newest_model(features_run, tmp_path):
    runs = tmp_path / "runs"
    with pytest.raises(RunError, match="no such runs folder"):
        latest_run(runs)
    runs.mkdir()
    (runs / "unfinished").mkdir()
    with pytest.raises(RunError, match="holds no run with a model.zip"):
        latest_run(runs)
    a = copy_run(features_run, runs / "a")
    b = copy_run(features_run, runs / "b")
    os.utime(a / "model.zip", (2_000_000_000, 2_000_000_000))
    os.utime(b / "model.zip", (1_000_000_000, 1_000_000_000))
    assert latest_run(runs) == a


# ------------------------------------------------------------------------------------------- tracks
def test_resolve_eval_tracks_names_specs_and_random(tmp_path):
    tracks = resolve_eval_tracks(["kidney", str(PROJECT_TRACKS_DIR / "s_bend.npy"), "random"], ["rounded_*"])
    assert [t.name if isinstance(t, Track) else t for t in tracks] == ["kidney", "s_bend", "random", "rounded_rectangle"]
    with pytest.raises(TrackError, match="no_such_track"):
        resolve_eval_tracks(["no_such_track"])
    with pytest.raises(TrackError, match="zz_nothing_"):
        resolve_eval_tracks([], ["zz_nothing_*"])
    with pytest.raises(TrackError, match="generated"):
        resolve_eval_tracks([], ["generated"])
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((5, 3)))
    with pytest.raises(TrackError, match=r"bad.npy: has shape \(5, 3\)"):
        resolve_eval_tracks([str(bad)])


# ------------------------------------------------------------------------------------------- eval envs
def test_eval_env_matches_training_stack_and_freezes_stats(features_run, pixels_run):
    from stable_baselines3.common.vec_env import VecNormalize, VecTransposeImage

    run = load_run(features_run)
    venv = make_eval_env(run, load_track("kidney"), start_waypoint=5, reverse=True, max_steps=7)
    try:
        assert isinstance(venv, VecNormalize)
        assert venv.training is False and venv.norm_reward is False
        with open(features_run / "vecnormalize.pkl", "rb") as fh:
            saved = pickle.load(fh)
        assert venv.ret_rms.count == saved.ret_rms.count
        assert venv.observation_space.shape == (37,)
        env = venv.unwrapped.envs[0].unwrapped
        assert (env.start_waypoint, env.reverse, env.max_episode_steps) == (5, True, 7)
        assert env.obs_mode == "features"
    finally:
        venv.close()

    run = load_run(pixels_run)
    venv = make_eval_env(run, load_track("kidney"))
    try:
        # Like SB3 at training time: frame stack (64, 64, 4), normalised, then channel-first for the policy.
        assert isinstance(venv, VecTransposeImage) and isinstance(venv.venv, VecNormalize)
        assert venv.venv.observation_space.shape == (64, 64, 4)
        assert venv.reset().shape == (1, 4, 64, 64) == (1, *run.model.observation_space.shape)
    finally:
        venv.close()


def test_incompatible_model_is_a_model_error(features_run, tmp_path):
    run = copy_run(features_run, tmp_path / "run", **{"env.obs": "pixels", "env.frame_stack": 4})
    with pytest.raises(ModelError) as err:
        evaluate(run, [TRACK], max_steps=5)
    message = str(err.value)
    assert str(run / "model.zip") in message
    assert "(37,)" in message and "(4, 64, 64)" in message
    run = copy_run(features_run, tmp_path / "continuous", **{"env.continuous": True})
    with pytest.raises(ModelError, match="model acts in Discrete"):
        evaluate(run, [TRACK], max_steps=5)


# ------------------------------------------------------------------------------------------- evaluate
def test_evaluate_reports_every_track_and_episode(features_run):
    report = evaluate(features_run, [TRACK, "kidney"], episodes=2, max_steps=40)
    assert isinstance(report, EvalReport)
    assert [t.track for t in report.tracks] == [TRACK, "kidney"]
    assert report.laps_attempted == 4 and report.laps_completed == 0
    for t in report.tracks:
        assert len(t.episodes) == 2
        # Deterministic policy, same start: both episodes drive the same way.
        assert t.episodes[0] == t.episodes[1]
        for e in t.episodes:
            assert e.steps == 40 and e.end == "truncated"
            assert e.time_s == pytest.approx(40 * 2 / 50)
            assert e.lap_steps is None and e.lap_time_s is None
            assert 0.0 < e.progress_pct < 100.0
            assert e.start_waypoint == 0 and e.track_reversed is False
    data = json.loads(json.dumps(report.to_dict()))
    assert data["summary"]["laps_attempted"] == 4
    assert data["summary"]["median_lap_time_s"] is None
    assert data["tracks"][1]["length_m"] == pytest.approx(load_track("kidney").length_m)
    assert set(data["tracks"][0]["episodes"][0]) >= {"lap_complete", "lap_steps", "lap_time_s", "progress_pct",
                                                     "off_track_count", "reversed", "total_reward"}


def test_evaluate_pixel_model_with_frame_stack(pixels_run):
    report = evaluate(pixels_run, [TRACK], max_steps=12)
    (episode,) = report.episodes
    assert episode.steps == 12 and episode.progress_pct > 0.0


def test_start_waypoint_and_reverse_are_applied(features_run):
    report = evaluate(features_run, ["kidney"], max_steps=10, start_waypoint=20, reverse=True)
    (episode,) = report.episodes
    assert episode.start_waypoint == 20 and episode.track_reversed is True


def test_stochastic_policy_is_seeded(features_run):
    a = evaluate(features_run, [TRACK], max_steps=60, deterministic=False, seed=3)
    b = evaluate(features_run, [TRACK], max_steps=60, deterministic=False, seed=3)
    assert a.episodes == b.episodes
    assert a.deterministic is False


def test_bad_limits_are_rejected(features_run):
    with pytest.raises(ConfigError, match="max_steps=0"):
        evaluate(features_run, [TRACK], max_steps=0)
    with pytest.raises(ConfigError, match="episodes=0"):
        evaluate(features_run, [TRACK], episodes=0)


class _Pilot:
    """A stand-in model that drives with pure pursuit (reads the simulator, not the observation)."""

    def __init__(self, observation_space, action_space):
        from racingline.lines.controllers import PurePursuit

        self.observation_space = observation_space
        self.action_space = action_space
        self.driver = PurePursuit(lookahead_m=1.0, target_speed_mps=2.0)
        self.env = None

    def predict(self, obs, deterministic=True):
        return np.array([self.driver.discrete(self.env)]), None


def test_completed_lap_is_timed_and_path_closes(features_run, monkeypatch):
    import racingline.evaluate.rollouts as evaluation

    real = load_run(features_run)
    pilot = _Pilot(real.model.observation_space, real.model.action_space)
    run = LoadedRun(model_path=real.model_path, run_dir=real.run_dir, config=real.config,
                    stats_path=real.stats_path, model=pilot)
    original = evaluation.make_eval_env

    def make_and_attach(*args, **kwargs):
        venv = original(*args, **kwargs)
        pilot.env = venv.unwrapped.envs[0].unwrapped
        return venv

    monkeypatch.setattr(evaluation, "make_eval_env", make_and_attach)
    report = evaluate(run, [TRACK], max_steps=1500)
    (episode,) = report.episodes
    assert episode.lap_complete and episode.end == "lap"
    assert episode.progress_pct == pytest.approx(100.0)
    assert episode.lap_steps == episode.steps
    # Sim time counts physics frames: the lap may end on the first of an agent step's two frames.
    assert (episode.lap_steps - 1) * 2 / 50 < episode.lap_time_s <= episode.lap_steps * 2 / 50 + 1e-9
    assert report.median_lap_time_s == pytest.approx(episode.lap_time_s)
    assert report.summary()["laps_completed"] == 1

    ro = rollout(run, TRACK, max_steps=1500)
    assert ro.result == episode
    track = load_track(TRACK)
    path = np.asarray(ro.path_m)
    assert len(path) == episode.steps + 1
    # Starts and ends at the start line (waypoint 0), driving all the way round in between.
    assert np.hypot(*(path[0] - track.center[0])) < 0.5
    assert np.hypot(*(path[-1] - track.center[0])) < 1.0
    assert ro.info["lap_complete"] is True


def test_rollout_stops_at_episode_end_without_a_lap(features_run):
    frames = []
    ro = rollout(features_run, "kidney", max_steps=15, frame_sink=frames.append)
    assert not ro.result.lap_complete and ro.result.end == "truncated"
    assert len(ro.path_m) == 16
    # One full frame after reset and after each step; none from the vec env's automatic reset.
    assert len(frames) == 16 and frames[0].shape == (400, 600, 3) and frames[0].dtype == np.uint8
    assert ro.track.name == "kidney"


def test_rollout_on_random_track(features_run):
    ro = rollout(features_run, "random", max_steps=5)
    assert ro.track.name == "carracing_random" and len(ro.path_m) == 6


def test_statistics_of_another_env_are_a_model_error(features_run, pixels_run, tmp_path):
    run = copy_run(features_run, tmp_path / "run")
    shutil.copy(pixels_run / "vecnormalize.pkl", run / "vecnormalize.pkl")
    with pytest.raises(ModelError, match=r"vecnormalize.pkl: normalisation statistics do not fit"):
        evaluate(run, [TRACK], max_steps=5)
