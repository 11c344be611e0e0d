"""DeepRacerEnv: the Gymnasium contract, start pose, lap metrics, off-track, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from racingline import DeepRacerEnv, load_track
from racingline.lines.controllers import PurePursuit

INFO_KEYS = {"progress", "lap_complete", "lap_steps", "lap_time_s", "off_track", "reversed", "position_m", "speed_mps"}


def drive_lap(env: DeepRacerEnv, driver: PurePursuit, seed: int = 0, continuous: bool = True):
    obs, info = env.reset(seed=seed)
    infos = [info]
    while True:
        action = driver.continuous(env) if continuous else driver.discrete(env)
        obs, reward, terminated, truncated, info = env.step(action)
        infos.append(info)
        if terminated or truncated:
            return infos, terminated, truncated


def test_reset_step_contract_and_info_keys():
    env = DeepRacerEnv("kidney", obs="features")
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    assert INFO_KEYS <= set(info)
    obs, reward, terminated, truncated, info = env.step(3)
    assert env.observation_space.contains(obs)
    assert isinstance(reward, float) and isinstance(terminated, bool) and isinstance(truncated, bool)
    assert INFO_KEYS <= set(info)
    assert info["lap_steps"] == 1 and info["lap_time_s"] == pytest.approx(1 / 50)


@pytest.mark.parametrize("continuous", [False, True])
def test_check_env_passes(continuous):
    check_env(DeepRacerEnv("rounded_rectangle", continuous=continuous, obs="features"), skip_render_check=True)
    check_env(DeepRacerEnv("rounded_rectangle", continuous=continuous, renderer="pygame"), skip_render_check=True)


def test_start_pose_faces_along_the_waypoint_order():
    track = load_track("rounded_rectangle")
    env = DeepRacerEnv(track, obs="features")
    env.reset(seed=0)
    a = env.car.hull.angle
    forward = np.array([-math.sin(a), math.cos(a)])  # CarRacing's car nose at angle a
    along = track.center[1] - track.center[0]
    along /= np.linalg.norm(along)
    assert forward @ along > 0.99
    # The reference tutorial's start angle atan2(dy, dx) + pi/2 faces the other way.
    tutorial = math.atan2(along[1], along[0]) + math.pi / 2
    assert np.array([-math.sin(tutorial), math.cos(tutorial)]) @ along < -0.99
    # Start position is waypoint 0, in the file's own metres.
    _, info = env.reset(seed=0)
    assert np.allclose(info["position_m"], track.center[0], atol=0.02)
    # Gas alone moves the car forward along the track: progress grows, not reversed.
    for _ in range(40):
        _, _, _, _, info = env.step(3)
    assert info["progress"] > 0.5 and not info["reversed"]


@pytest.mark.parametrize("name", ["rounded_rectangle", "kidney", "s_bend"])
def test_pure_pursuit_laps_project_tracks(name):
    env = DeepRacerEnv(name, obs="features", continuous=True, frame_skip=2)
    infos, terminated, truncated = drive_lap(env, PurePursuit(target_speed_mps=2.0))
    progress = [i["progress"] for i in infos]
    assert terminated and not truncated
    assert infos[-1]["lap_complete"]
    assert progress[-1] == pytest.approx(100.0)
    assert np.all(np.diff(progress) >= 0)
    assert progress[len(progress) // 2] == pytest.approx(50, abs=15)  # it grows along the lap, not at the end
    assert not any(i["off_track"] for i in infos)
    assert infos[-1]["lap_time_s"] == pytest.approx(infos[-1]["lap_steps"] * 2 / 50, abs=2 / 50)


def test_discrete_pure_pursuit_laps():
    env = DeepRacerEnv("kidney", obs="features", frame_skip=2)
    infos, terminated, _ = drive_lap(env, PurePursuit(target_speed_mps=1.5), continuous=False)
    assert terminated and infos[-1]["lap_complete"]


def test_pure_pursuit_laps_2022_march_open(shared_2022):
    env = DeepRacerEnv(shared_2022 / "2022_march_open.npy", obs="features", continuous=True, frame_skip=2)
    infos, terminated, _ = drive_lap(env, PurePursuit(target_speed_mps=2.0))
    progress = [i["progress"] for i in infos]
    assert terminated and infos[-1]["lap_complete"]
    assert progress[-1] == pytest.approx(100.0)
    assert np.all(np.diff(progress) >= 0)
    assert infos[-1]["track"] == "2022_march_open"


def test_reverse_drives_the_track_the_other_way():
    env = DeepRacerEnv("kidney", obs="features", continuous=True, frame_skip=2, reverse=True)
    infos, terminated, _ = drive_lap(env, PurePursuit(target_speed_mps=2.0))
    assert terminated and infos[-1]["lap_complete"] and infos[-1]["track_reversed"]


def test_off_track_when_steered_off_the_road():
    env = DeepRacerEnv("rounded_rectangle", obs="features", continuous=True, frame_skip=2)
    env.reset(seed=0)
    driver = PurePursuit(target_speed_mps=1.0, offset=-4.0)  # aim well right of the road
    seen = []
    for _ in range(200):
        _, _, terminated, _, info = env.step(driver.continuous(env))
        seen.append(info["off_track"])
        if terminated:
            break
    assert not seen[0]
    assert any(seen)
    assert info["off_track_count"] >= 1


def test_terminate_on_off_track():
    env = DeepRacerEnv("rounded_rectangle", obs="features", continuous=True, terminate_on_off_track=True,
                       off_track_penalty=-7.0)
    env.reset(seed=0)
    driver = PurePursuit(target_speed_mps=1.0, offset=-4.0)
    for _ in range(500):
        _, reward, terminated, truncated, info = env.step(driver.continuous(env))
        if terminated or truncated:
            break
    assert terminated and info["off_track"] and not info["lap_complete"]
    assert reward < -6.0


def test_progress_not_fooled_by_driving_backwards():
    env = DeepRacerEnv("kidney", obs="features", continuous=True, frame_skip=2)
    env.reset(seed=0)
    driver = PurePursuit(lookahead_m=-1.0, target_speed_mps=1.5)  # aims behind: turns round, drives backwards
    reversed_seen = False
    for _ in range(400):
        _, _, terminated, truncated, info = env.step(driver.continuous(env))
        reversed_seen |= info["reversed"]
        if terminated or truncated:
            break
    assert reversed_seen
    assert info["progress"] < 3.0
    assert not info["lap_complete"]


def test_progress_not_fooled_by_cutting_across():
    env = DeepRacerEnv("kidney", obs="features")
    env.reset(seed=0)
    sim = env.sim_track
    far = sim.dense_xy[len(sim.dense_xy) // 2]  # the far side of the loop
    env.tracker.update(float(far[0]), float(far[1]))
    assert env.progress < 1.0


def test_start_waypoint_and_random_start():
    track = load_track("kidney")
    env = DeepRacerEnv(track, obs="features", start_waypoint=40)
    _, info = env.reset(seed=0)
    assert np.allclose(info["position_m"], track.center[40], atol=0.02)
    assert info["progress"] == 0.0
    env = DeepRacerEnv(track, obs="features", start_waypoint="random")
    starts = {env.reset(seed=s)[1]["start_waypoint"] for s in range(10)}
    assert len(starts) > 5


def test_step_limit_truncates():
    env = DeepRacerEnv("kidney", obs="features", max_episode_steps=7)
    env.reset(seed=0)
    for _i in range(7):
        _, _, terminated, truncated, _ = env.step(0)
    assert truncated and not terminated


@pytest.mark.parametrize("obs, renderer", [("features", "fast"), ("pixels", "pygame")])
def test_same_seed_same_observations(obs, renderer):
    def run(seed):
        env = DeepRacerEnv(None, obs=obs, renderer=renderer, frame_skip=2)
        out = [env.reset(seed=seed)[0]]
        rng = np.random.default_rng(0)
        for _ in range(30):
            out.append(env.step(int(rng.integers(5)))[0])
        return np.stack(out)

    a, b, c = run(5), run(5), run(6)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_random_procedural_track_and_playfield():
    env = DeepRacerEnv(None, obs="features", frame_skip=2)
    _, info = env.reset(seed=1)
    assert info["track"] == "carracing_random"
    assert env.playfield > env.sim_track.extent


def test_2022_track_fits_playfield(shared_2022):
    # the widest 2022 track must lie inside the playfield with room to spare
    env = DeepRacerEnv(shared_2022 / "2022_october_pro.npy", obs="features")
    env.reset(seed=0)
    assert np.abs(env.sim_track.dense_xy).max() < env.playfield - 50


def test_rgb_array_render_gives_full_frames():
    env = DeepRacerEnv("kidney", obs="features", render_mode="rgb_array")
    env.reset(seed=0)
    env.step(3)
    frame = env.render()
    assert frame.shape == (400, 600, 3) and frame.dtype == np.uint8
    assert frame.std() > 10


def test_headless_never_initialises_a_display():
    import pygame

    for kwargs in ({"obs": "features"}, {"obs": "pixels", "renderer": "pygame"}):
        env = DeepRacerEnv("kidney", **kwargs)
        env.reset(seed=0)
        for _ in range(5):
            env.step(3)
        env.close()
    assert not pygame.display.get_init()


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="obs"):
        DeepRacerEnv("kidney", obs="lidar")
    with pytest.raises(ValueError, match="renderer"):
        DeepRacerEnv("kidney", renderer="opengl")
    with pytest.raises(ValueError, match="frame_skip"):
        DeepRacerEnv("kidney", frame_skip=0)


@pytest.mark.parametrize("renderer", ["fast", "pygame"])
def test_reset_on_the_same_track_reuses_the_road_and_matches_a_fresh_env(renderer):
    """Keeping the road bodies between episodes on one track changes nothing: tiles, shades, rewards, pixels."""
    env = DeepRacerEnv("kidney", obs="pixels", renderer=renderer, reward="tiles", frame_skip=2)
    driver = PurePursuit()
    env.reset(seed=0)
    for _ in range(150):
        env.step(driver.continuous(env) if env.continuous else driver.discrete(env))
    assert env.tile_visited_count > 10  # tiles were visited and repainted
    bodies = [id(t) for t in env.road]
    fresh = DeepRacerEnv("kidney", obs="pixels", renderer=renderer, reward="tiles", frame_skip=2)
    obs, _ = env.reset(seed=1)
    ref_obs, _ = fresh.reset(seed=1)
    assert [id(t) for t in env.road] == bodies  # the same road, not rebuilt
    assert len(env.road_poly) == len(fresh.road_poly) > len(env.road)  # tiles and kerbs, drawn by pygame too
    # Only the start tiles the car settles on are visited, as in a fresh env.
    assert [t.road_visited for t in env.road] == [t.road_visited for t in fresh.road]
    assert sum(t.road_visited for t in env.road) < 5
    np.testing.assert_array_equal([t.color for t in env.road], [t.color for t in fresh.road])
    np.testing.assert_array_equal(obs, ref_obs)
    for _ in range(150):
        action = driver.discrete(fresh)
        obs, reward, *_ = env.step(action)
        ref_obs, ref_reward, *_ = fresh.step(action)
        np.testing.assert_array_equal(obs, ref_obs)
        assert reward == ref_reward
    assert env.tile_visited_count == fresh.tile_visited_count > 10
