"""make_env / make_vec_env (the tutorial's stack) and in-env frame skip."""

from __future__ import annotations

import numpy as np
import pytest

from racingline import DeepRacerEnv, make_env, make_vec_env
from racingline.lines.controllers import PurePursuit
from racingline.sim.wrappers import FrameSkip, make_stock_env


def test_make_env_pixel_observation():
    env = make_env("kidney", renderer="pygame")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (64, 64, 1) and obs.dtype == np.uint8
    assert env.observation_space.shape == (64, 64, 1)
    assert env.frame_skip == 2


def test_make_env_features_observation():
    env = make_env("kidney", obs="features")
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.ndim == 1 and env.observation_space.contains(obs)


def test_vector_stack_shapes_with_subprocesses():
    venv = make_vec_env(2, seed=0, track="kidney", renderer="pygame")
    try:
        obs = venv.reset()
        assert obs.shape == (2, 64, 64, 4) and obs.dtype == np.uint8
        obs, rewards, dones, infos = venv.step(np.array([3, 3]))
        assert obs.shape == (2, 64, 64, 4)
        assert type(venv).__name__ == "VecNormalize" and venv.norm_reward and not venv.norm_obs
        assert type(venv.venv).__name__ == "VecFrameStack"
        assert type(venv.venv.venv).__name__ == "SplitVecEnv"  # env 0 here, env 1 in a subprocess
        assert "progress" in infos[0]
    finally:
        venv.close()


def test_features_vector_stack_is_not_frame_stacked():
    venv = make_vec_env(1, seed=0, track="kidney", obs="features")
    try:
        assert venv.reset().shape == (1, 37)
    finally:
        venv.close()


def test_in_env_frame_skip_equals_repeated_single_steps():
    """frame_skip=k is k physics steps with the action held and rewards summed."""
    a = DeepRacerEnv("kidney", obs="features", frame_skip=4)
    b = DeepRacerEnv("kidney", obs="features", frame_skip=1)
    a.reset(seed=0)
    b.reset(seed=0)
    for action in [3, 3, 3, 1, 3, 2, 0, 4]:
        _, ra, *_ = a.step(action)
        rb = sum(b.step(action)[1] for _ in range(4))
        assert ra == pytest.approx(rb)
    assert np.allclose(a.car.hull.position, b.car.hull.position)
    assert a.t == pytest.approx(b.t)


def test_in_env_frame_skip_stops_at_episode_end():
    kwargs = dict(obs="features", continuous=True, terminate_on_off_track=True)
    a = DeepRacerEnv("rounded_rectangle", frame_skip=8, **kwargs)
    b = DeepRacerEnv("rounded_rectangle", frame_skip=1, **kwargs)
    driver = PurePursuit(target_speed_mps=1.0, offset=-4.0)
    a.reset(seed=0)
    b.reset(seed=0)
    physics_steps = 0
    while True:
        physics_steps += 1
        _, _, term_b, _, info_b = b.step(driver.continuous(b))
        if term_b:
            break
    agent_steps = 0
    while True:
        agent_steps += 1
        _, _, term_a, _, info_a = a.step(driver.continuous(a))
        if term_a:
            break
    # Same action sequence is not guaranteed, but termination lands on a physics step, not a skip boundary.
    assert info_a["lap_steps"] == agent_steps
    assert info_a["lap_time_s"] * 50 == pytest.approx(round(info_a["lap_time_s"] * 50))
    assert info_b["lap_time_s"] == pytest.approx(physics_steps / 50)


def test_frame_skip_wrapper_sums_and_stops():
    stock = FrameSkip(make_stock_env(frame_skip=1).env, 3)  # a FrameSkip around CarRacing-v3
    stock.reset(seed=0)
    _, reward, terminated, truncated, _ = stock.step(3)
    assert isinstance(reward, float)
    env = make_stock_env()
    obs, _ = env.reset(seed=0)
    assert obs.shape == (64, 64, 1) and obs.dtype == np.uint8


def test_one_observation_per_agent_step():
    env = DeepRacerEnv("kidney", obs="pixels", renderer="pygame", frame_skip=4)
    env.reset(seed=0)
    calls = []
    original = env.observer.observe
    env.observer.observe = lambda state: calls.append(1) or original(state)
    for _ in range(5):
        env.step(3)
    assert len(calls) == 5
