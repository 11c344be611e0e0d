"""The ``features`` observation: documented layout, finite values inside the declared bounds, signs."""

from __future__ import annotations

import numpy as np
import pytest

from racingline import DeepRacerEnv
from racingline.lines.controllers import PurePursuit
from racingline.sim.features import FEATURE_HIGH, FEATURE_LOW, FEATURE_NAMES, LOOKAHEAD_M

OFFSET = FEATURE_NAMES.index("lateral_offset")


def test_layout_matches_the_space():
    env = DeepRacerEnv("kidney", obs="features")
    assert env.observation_space.shape == (len(FEATURE_NAMES),) == (13 + 2 * len(LOOKAHEAD_M),)
    assert env.observation_space.dtype == np.float32
    assert np.array_equal(env.observation_space.low, FEATURE_LOW)


def test_scripted_lap_features_are_finite_and_well_scaled():
    env = DeepRacerEnv("s_bend", obs="features", continuous=True, frame_skip=2)
    obs, _ = env.reset(seed=0)
    driver = PurePursuit(target_speed_mps=2.0)
    rows = [obs]
    while True:
        obs, _, terminated, truncated, info = env.step(driver.continuous(env))
        rows.append(obs)
        if terminated or truncated:
            break
    x = np.stack(rows)
    assert info["lap_complete"]
    assert np.isfinite(x).all()
    # On the road nothing is clipped: every value lies strictly inside its bounds.
    scaled = (FEATURE_HIGH == 10.0) & (FEATURE_LOW == -10.0)  # clippable elements (the rest are bounded by nature)
    assert (x[:, scaled] > FEATURE_LOW[scaled]).all() and (x[:, scaled] < FEATURE_HIGH[scaled]).all()
    assert (np.abs(x[:, scaled]) < 3.0).all()
    assert np.abs(x[:, OFFSET]).max() < 1.0  # never beyond the road edge
    assert x[10:, FEATURE_NAMES.index("heading_error_cos")].min() > 0.8
    assert x[-1, FEATURE_NAMES.index("speed")] > 0.3
    ahead_fwd = x[:, [FEATURE_NAMES.index(f"ahead_{d:g}m_fwd") for d in LOOKAHEAD_M[:3]]]
    assert (np.diff(ahead_fwd, axis=1) > 0).all()  # points further ahead are further in front


@pytest.mark.parametrize("continuous", [False, True])
def test_random_and_off_track_drives_stay_inside_bounds(continuous):
    env = DeepRacerEnv(None, obs="features", continuous=continuous, frame_skip=2, max_episode_steps=400)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    off = 0
    for _ in range(1500):
        # random steering with the throttle mostly open, so the car really drives (and leaves the road)
        if continuous:
            action = np.array([rng.uniform(-1, 1), rng.uniform(0.3, 1.0), 0.0], dtype=np.float32)
        else:
            action = int(rng.choice(5, p=[0.1, 0.2, 0.2, 0.45, 0.05]))
        obs, _, terminated, truncated, info = env.step(action)
        assert np.isfinite(obs).all()
        assert env.observation_space.contains(obs)
        off += info["off_track"]
        if terminated or truncated:
            env.reset()
    assert off > 0  # the drive did leave the road


def test_off_track_drive_far_from_the_road_stays_inside_bounds():
    env = DeepRacerEnv("rounded_rectangle", obs="features", continuous=True, frame_skip=2)
    env.reset(seed=0)
    for _ in range(300):  # full gas, steering hard right: far off into the grass
        obs, _, terminated, truncated, info = env.step(np.array([1.0, 1.0, 0.0], dtype=np.float32))
        assert env.observation_space.contains(obs)
        if terminated or truncated:
            break
    assert info["off_track"] or info.get("out_of_playfield")
    assert obs[FEATURE_NAMES.index("wheels_on_road")] == 0.0


def test_lateral_offset_sign_flips_across_the_centerline():
    env = DeepRacerEnv("rounded_rectangle", obs="features", continuous=True, frame_skip=2)
    env.reset(seed=0)
    left, right = PurePursuit(target_speed_mps=1.5, offset=0.6), PurePursuit(target_speed_mps=1.5, offset=-0.6)
    offsets = []
    for driver in (left, right, left):
        for _ in range(100):
            obs, *_ = env.step(driver.continuous(env))
            offsets.append(obs[OFFSET])
    offsets = np.array(offsets)
    assert np.median(offsets[70:100]) > 0.2  # left of the centerline: positive
    assert np.median(offsets[170:200]) < -0.2  # right: negative
    assert np.median(offsets[270:300]) > 0.2
    assert (np.diff(np.sign(offsets)) != 0).sum() >= 2  # it crossed the centerline both ways
