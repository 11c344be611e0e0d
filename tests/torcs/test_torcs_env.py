"""TorcsEnv on real TORCS: a scripted lap, Gymnasium's checker, parallel instances, opponents, race files."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from racingline.torcs.drivers import ScriptedDriver
from racingline.torcs.env import TorcsEnv, obs_index
from racingline.torcs.install import TorcsError


def drive(env: TorcsEnv, driver=None, seed: int = 0, max_steps: int = 100_000):
    """One episode; returns (observations, rewards, final info)."""
    driver = driver or ScriptedDriver()
    obs, info = env.reset(seed=seed)
    observations, rewards = [obs], []
    for _ in range(max_steps):
        obs, reward, terminated, truncated, info = env.step(driver(obs))
        observations.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            break
    return np.array(observations), np.array(rewards), info


def test_a_scripted_lap_completes_and_repeats_exactly(torcs):
    env = TorcsEnv("road/g-track-1", frame_skip=5)
    try:
        obs1, rew1, info = drive(env)
        obs2, rew2, _ = drive(env)
    finally:
        env.close()
    assert info["lap_complete"] and info["laps_completed"] == 1 and info["progress"] == 100.0
    assert info["lap_times_s"] == [info["lap_time_s"]] and 60.0 < info["lap_time_s"] < 200.0
    assert info["track"] == "road/g-track-1" and info["off_track_count"] == 0
    # +1000 per lap of distance raced (from 25 m behind the line), -0.1 per 0.02 s.
    expected = 1000.0 * (info["distance_m"] + 25.0) / info["track_length_m"] - 0.1 * 5 * len(rew1)
    assert rew1.sum() == pytest.approx(expected, abs=1.0)
    assert np.array_equal(obs1, obs2) and np.array_equal(rew1, rew2)  # TORCS is deterministic


def test_gymnasium_env_checker_passes(torcs):
    env = TorcsEnv("road/g-track-1", frame_skip=5, max_episode_steps=50)
    try:
        check_env(env, skip_render_check=True)
        obs, _ = env.reset(seed=1)
        assert obs.dtype == np.float32 and env.observation_space.contains(obs)
        assert env.action_space.shape == (3,)
    finally:
        env.close()


def test_leaving_the_road_ends_the_episode_with_the_penalty(torcs):
    env = TorcsEnv("road/g-track-1", frame_skip=5, off_track_penalty=-50.0)
    try:
        _, rewards, info = drive(env, driver=lambda obs: np.array([1.0, 1.0, 0.0], np.float32))  # full right
    finally:
        env.close()
    assert info["off_track"] and not info["lap_complete"] and info["off_track_count"] == 1
    assert rewards[-1] < -40.0


def test_two_instances_in_parallel_do_not_interfere(torcs):
    solo_env = TorcsEnv("road/g-track-1", frame_skip=5, max_episode_steps=300)
    try:
        solo, _, _ = drive(solo_env)
    finally:
        solo_env.close()
    a = TorcsEnv("road/g-track-1", frame_skip=5, max_episode_steps=300)
    b = TorcsEnv("road/g-track-1", frame_skip=5, max_episode_steps=300, stall_s=None)
    try:
        driver = ScriptedDriver()
        oa, _ = a.reset(seed=0)
        ob, _ = b.reset(seed=0)
        assert a._proc.port != b._proc.port and a._proc.folder != b._proc.folder
        seen = [oa]
        for _ in range(299):  # interleaved: a drives the scripted line, b brakes on the grid
            oa, *_ = a.step(driver(oa))
            ob, *_ = b.step(np.array([0.0, 0.0, 1.0], np.float32))
            seen.append(oa)
    finally:
        a.close()
        b.close()
    assert np.array_equal(np.array(seen), solo[:300])
    assert abs(ob[obs_index("speedX")][0]) < 0.01  # b never moved


def test_a_race_file_with_an_opponent(torcs, tmp_path):
    race = tmp_path / "race.yaml"
    race.write_text("track: g-track-1\nlaps: 1\nopponents: [bt]\nstart: 1\n")
    env = TorcsEnv(race, frame_skip=5, opponent_sensors=True, max_episode_steps=40)
    try:
        obs, info = env.reset(seed=0)
        assert env.observation_space.shape == (32 + 36,)
        assert info["race_position"] == 2  # bt has the pole
        assert obs[obs_index("opponents", True)].min() < 0.2  # bt is close, ahead on the grid
    finally:
        env.close()


def test_bad_inputs_are_one_line(torcs):
    for kwargs, pattern in (({"track": "road/nope"}, "no such TORCS track"),
                            ({"track": "road/g-track-1", "opponents": ["nobody"]}, "no such TORCS robot"),
                            ({"track": "road/g-track-1", "render_mode": "rgb_array"}, "render_mode")):
        with pytest.raises(TorcsError, match=pattern) as err:
            TorcsEnv(**kwargs)
        assert "\n" not in str(err.value)
