"""The simulator's parts serve another backend without CarRacing: a kinematic car built from TrackPool,
ProgressTracker, CarState, a Reward and an Observer passes Gymnasium's env checker and laps a track.

This is the contract a second simulator (TORCS) relies on: nothing here inherits from CarRacing or
touches Box2D; the parts only meet through :class:`CarState`.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from racingline.sim.geometry import build_sim_track
from racingline.sim.observers import FeatureObserver
from racingline.sim.progress import ProgressTracker
from racingline.sim.rewards import ProgressReward
from racingline.sim.state import CarState
from racingline.tracks.pools import TrackPool


class PointCarEnv(gym.Env):
    """A car that moves ``speed`` sim units per frame along the centerline, offset sideways by its action."""

    def __init__(self, track="kidney", frame_skip: int = 2, speed: float = 2.0) -> None:
        self.pool = TrackPool([track], reverse="random", start_waypoint="random")
        self.reward_fn = ProgressReward(off_track_penalty=-10.0)
        self.observer = FeatureObserver()
        self.observation_space = self.observer.observation_space
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.frame_skip, self.speed = frame_skip, speed

    def _state(self, advances: tuple, off: bool) -> CarState:
        sim, tr = self.sim, self.tracker
        i = int(self.s / sim.ds) % len(sim.dense_xy)
        tx, ty = sim.dense_tangent[i]
        x, y = sim.dense_xy[i] + self.lateral * np.array([-ty, tx])
        angle = math.atan2(ty, tx) - math.pi / 2
        v = self.speed * 50.0
        return CarState(
            x=float(x), y=float(y), angle=angle, vx=v * tx, vy=v * ty, yaw_rate=0.0, steer_angle=0.0,
            wheel_omega=(0.0,) * 4, wheels_on_road=0 if off else 4, off_track=off, proj=tr.proj,
            progress=tr.progress, lap_complete=tr.lap_complete, reversed=False, frame_advance=advances,
            track_length=sim.length, out_of_playfield=False, off_track_end=off, steps=self.steps,
            time_s=self.frames / 50.0, off_track_count=int(off), score_before=0.0, frame_score=(), tiles_visited=0,
            sim=sim, road=None, car=None, track_name=sim.track.name, track_reversed=self.reverse,
            start_waypoint=self.start)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        draw = self.pool.draw(self.np_random)
        track = draw.track.reversed() if draw.reverse else draw.track
        self.reverse = draw.reverse
        self.sim = build_sim_track(track)
        self.start = self.pool.start_index(self.np_random, track.n_waypoints)
        i0 = int(self.sim.waypoint_dense_index[self.start])
        self.tracker = ProgressTracker(self.sim, i0, max_jump=20.0)
        self.s, self.lateral, self.steps, self.frames = i0 * self.sim.ds, 0.0, 0, 0
        self.state = self._state((), False)
        return self.observer.observe(self.state), self.state.info()

    def step(self, action):
        advances = []
        off = False
        for _ in range(self.frame_skip):
            self.s += self.speed
            self.lateral += 0.5 * float(np.clip(action[0], -1, 1))
            i = int(self.s / self.sim.ds) % len(self.sim.dense_xy)
            tx, ty = self.sim.dense_tangent[i]
            x, y = self.sim.dense_xy[i] + self.lateral * np.array([-ty, tx])
            advances.append(self.tracker.update(float(x), float(y)))
            self.frames += 1
            off = abs(self.lateral) > self.sim.dense_half_width[i]
            if off or self.tracker.lap_complete:
                break
        self.steps += 1
        prev, self.state = self.state, self._state(tuple(advances), off)
        reward = self.reward_fn(self.state, prev)
        terminated = off or self.tracker.lap_complete
        return self.observer.observe(self.state), reward, terminated, self.steps >= 2000, self.state.info()


def test_parts_make_a_valid_env_without_carracing():
    env = PointCarEnv()
    check_env(env, skip_render_check=True)
    assert not isinstance(env, gym.envs.box2d.CarRacing)


def test_the_composed_env_laps_and_is_rewarded_for_progress():
    env = PointCarEnv()
    obs, info = env.reset(seed=3)
    assert obs.shape == (37,) and obs[9] == pytest.approx(0.0, abs=1e-3)  # on the centerline
    total, terminated, steps = 0.0, False, 0
    while not terminated:
        obs, reward, terminated, truncated, info = env.step(np.zeros(1, dtype=np.float32))
        total += reward
        steps += 1
        assert not truncated
    assert info["lap_complete"] and info["progress"] == pytest.approx(100.0)
    # +1000 per lap of progress, -0.1 per frame
    assert total == pytest.approx(1000.0 - 0.1 * env.frames, abs=1000.0 * env.sim.ds / env.sim.length + 1e-6)


def test_the_composed_env_ends_off_the_road_with_the_penalty():
    env = PointCarEnv()
    env.reset(seed=0)
    rewards = []
    terminated = False
    while not terminated:
        _, reward, terminated, _, info = env.step(np.ones(1, dtype=np.float32))
        rewards.append(reward)
    assert info["off_track"] and not info["lap_complete"]
    assert rewards[-1] == pytest.approx(rewards[-2] - 10.0, abs=0.5)  # the same progress, and the -10 penalty
