"""DeepRacer's ``params`` from the simulated car: every documented key, on known positions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from racingline.deepracer.params import OBJECT_KEYS, PARAM_KEYS, reward_params
from racingline.sim.wrappers import make_env

#: The keys of AWS DeepRacer's reward-function input documentation.
DOCUMENTED = {
    "all_wheels_on_track", "x", "y", "closest_objects", "closest_waypoints", "distance_from_center", "is_crashed",
    "is_left_of_center", "is_offtrack", "is_reversed", "heading", "objects_distance", "objects_distance_from_center",
    "objects_heading", "objects_left_of_center", "objects_location", "objects_speed", "object_in_camera",
    "progress", "projection_distance", "speed", "steering_angle", "steps", "track_length", "track_width",
    "waypoints",
}


def _env(track="kidney", **kw):
    kw = {"obs": "features", "continuous": True, "frame_skip": 3, "terminate_on_off_track": True, **kw}
    return make_env(track, **kw)


def test_every_documented_key_and_no_other():
    env = _env()
    env.reset(seed=0)
    p = reward_params(env.state)
    assert set(p) == DOCUMENTED == set(PARAM_KEYS)
    for key in OBJECT_KEYS:
        assert p[key] in ([], False)
    assert p["is_crashed"] is False
    env.close()


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("start", [0, 17, 40])
def test_car_placed_on_the_centerline(start, reverse):
    env = _env(start_waypoint=start, reverse=reverse)
    _, info = env.reset(seed=0)
    state = env.state
    p = reward_params(state)
    track = state.sim.track  # the driving direction's track
    n = track.n_waypoints
    assert p["distance_from_center"] < 0.01
    assert p["progress"] == info["progress"] == 0.0
    assert p["steps"] == 0 and p["speed"] < 0.05
    assert p["all_wheels_on_track"] and not p["is_offtrack"]
    assert p["is_reversed"] is reverse
    assert p["track_length"] == pytest.approx(track.length_m)
    assert p["track_width"] == pytest.approx(track.widths_m[start], rel=1e-6)
    # waypoints: the driving direction's centerline, first point repeated last (DeepRacer's list)
    wp = p["waypoints"]
    assert len(wp) == n + 1 and wp[0] == wp[-1]
    assert np.allclose(wp[:-1], track.center)
    if reverse:  # DeepRacer's reversed list: the file's rows backwards
        source = env.pool.members[0]
        assert np.allclose(wp, source.to_array()[::-1, :2])
    behind, ahead = p["closest_waypoints"]
    assert ahead == behind + 1 and 0 <= behind < n
    assert start in (behind, ahead % n)  # the car stands on waypoint `start`
    assert (p["x"], p["y"]) == pytest.approx(tuple(track.center[start]), abs=0.03)  # dense spacing: 4 cm
    assert p["projection_distance"] == pytest.approx(track.arc_m[start], abs=0.05) or \
        p["projection_distance"] == pytest.approx(track.length_m, abs=0.05)
    # heading: the hull's yaw in the track frame (CarRacing's angle 0 faces +y) ...
    assert p["heading"] == pytest.approx((math.degrees(state.angle) + 90 + 180) % 360 - 180)
    # ... which is the track's direction there: the car is placed along the centerline's tangent, and
    # CarRacing's settling step at reset turns the hull by up to ~3 degrees
    tx, ty = state.sim.dense_tangent[state.proj]
    assert abs((p["heading"] - math.degrees(math.atan2(ty, tx)) + 180) % 360 - 180) < 4.0
    assert -180 <= p["heading"] < 180
    env.close()


def test_driving_bracket_progress_and_side():
    env = _env("rounded_rectangle", start_waypoint=0)
    env.reset(seed=0)
    last = -1.0
    for step in range(1, 40):
        _, _, term, trunc, info = env.step(np.array([0.0, 0.5, 0.0]))
        p = reward_params(env.state)
        assert p["steps"] == step
        assert p["progress"] == info["progress"]
        assert p["progress"] >= last
        last = p["progress"]
        track = env.state.sim.track
        behind, ahead = p["closest_waypoints"]
        # the projection lies between the two waypoints' arc positions
        s = p["projection_distance"]
        lo = track.arc_m[behind]
        hi = track.arc_m[ahead] if ahead < track.n_waypoints else track.length_m
        assert lo - 1e-6 <= s <= hi + 1e-6
        # side and distance agree with the car's offset from the nearest centerline point
        q = np.array([p["x"], p["y"]])
        a, b = np.array(p["waypoints"][behind]), np.array(p["waypoints"][ahead])
        d = b - a
        cross = d[0] * (q - a)[1] - d[1] * (q - a)[0]
        assert p["distance_from_center"] == pytest.approx(abs(cross) / np.hypot(*d), abs=0.02)
        if abs(cross) / np.hypot(*d) > 0.02:
            assert p["is_left_of_center"] == (cross > 0)
        if term or trunc:
            break
    assert p["speed"] > 0.5  # m/s after a second of half throttle
    env.close()


def test_steering_sign_and_speed_units():
    env = _env("rounded_rectangle")
    env.reset(seed=0)
    for _ in range(5):
        env.step(np.array([-1.0, 0.2, 0.0]))  # the env's steer -1 is a left turn
    p = reward_params(env.state)
    assert p["steering_angle"] > 5.0
    assert p["speed"] == pytest.approx(env.state.speed_mps)
    env.close()
