"""FastCar against Gymnasium's Car: the same trajectories bit for bit; closest_waypoint against its definition."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.envs.box2d.car_dynamics import Car

from racingline import DeepRacerEnv, load_track
from racingline.sim.car import FastCar
from racingline.sim.geometry import build_sim_track
from racingline.tracks.files import track_from_array
from racingline.tracks.generator import generate_track


def _drive(car_class, *, continuous: bool, track, seed: int, steps: int = 1200) -> np.ndarray:
    env = DeepRacerEnv(track, continuous=continuous, obs="features", frame_skip=2, max_episode_steps=500)
    env._car_class = car_class
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    rows = []
    for _ in range(steps):
        if continuous:
            action = rng.uniform([-1.2, -0.1, 0.0], [1.2, 1.1, 1.0])
            if rng.random() < 0.2:
                action[2] = 0.95  # locks the wheels (brake >= 0.9)
        else:
            action = int(rng.integers(5))
        obs, reward, terminated, truncated, _ = env.step(action)
        car = env.car
        state = [reward, car.hull.position[0], car.hull.position[1], car.hull.angle, car.fuel_spent,
                 len(car.particles)]
        for w in car.wheels:
            state += [w.omega, w.phase, w.gas, w.joint.angle, w.linearVelocity[0], w.linearVelocity[1]]
        rows.append(np.concatenate([obs, state]))
        if terminated or truncated:
            env.reset()
    env.close()
    return np.array(rows)


@pytest.mark.parametrize("continuous", [True, False])
@pytest.mark.parametrize("track,seed", [(None, 0), ("kidney", 1)])
def test_fast_car_matches_gymnasium_car_exactly(continuous, track, seed):
    ours = _drive(FastCar, continuous=continuous, track=track, seed=seed)
    ref = _drive(Car, continuous=continuous, track=track, seed=seed)
    assert np.abs(ref[:, -20:]).max() > 1.0  # the car actually moved and its wheels spun
    np.testing.assert_array_equal(ours, ref)


def test_env_uses_fast_car():
    env = DeepRacerEnv("kidney", obs="features")
    env.reset(seed=0)
    assert isinstance(env.car, FastCar)


@pytest.mark.parametrize("reverse", [False, True])
def test_closest_waypoint_matches_full_search(reverse):
    tracks = [load_track("kidney"), load_track("s_bend"), track_from_array(generate_track(3))]
    for track in tracks:
        sim = build_sim_track(track.reversed() if reverse else track)
        m = len(sim.dense_xy)
        h = m // 2
        for i in range(m):
            ref = int(np.argmin(np.abs((sim.waypoint_dense_index - i + h) % m - h)))
            assert sim.closest_waypoint(i) == ref
