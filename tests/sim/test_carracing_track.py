"""CarRacing's procedural track and road, built faster than Gymnasium builds them, with the same results."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gymnasium.envs.box2d.car_racing import CarRacing
from gymnasium.utils import seeding

from racingline.sim.carracing_track import START_ALPHA, carracing_centerline
from racingline.sim.env import DeepRacerEnv
from racingline.sim.geometry import KERB_MIN_COUNT, KERB_TURN_RATE, build_sim_track
from racingline.tracks.files import load_track, track_from_array
from racingline.tracks.generator import generate_track


def test_centerline_matches_carracing_create_track_attempt_by_attempt():
    env = CarRacing()
    env.reset(seed=0)
    failures = 0
    try:
        for seed in range(120):
            for t in env.road:
                env.world.DestroyBody(t)
            env.road, env.road_poly = [], []
            env.np_random, _ = seeding.np_random(seed)
            ours, _ = seeding.np_random(seed)
            ok = env._create_track()
            track = carracing_centerline(ours)
            if ok:
                assert track == env.track  # the same floats, point for point
                assert env.start_alpha == START_ALPHA
            else:
                failures += 1
                assert track is None
            # the same random draws were made, so retries stay in step with CarRacing's
            assert ours.bit_generator.state == env.np_random.bit_generator.state
    finally:
        env.close()
    assert failures > 0  # failed attempts (retried by reset) were compared too


def _reference_kerbs(sim):
    """CarRacing's kerb rule as a plain loop over tiles (the definition build_sim_track vectorises)."""
    beta = sim.tiles[:, 1]
    n = len(beta)
    dbeta = np.diff(np.concatenate([beta[-1:] - 2 * math.pi * round((beta[-1] - beta[0]) / (2 * math.pi)), beta]))
    kerb = [all(abs(dbeta[(i - k) % n]) > KERB_TURN_RATE for k in range(KERB_MIN_COUNT))
            and abs(sum(np.sign(dbeta[(i - k) % n]) for k in range(KERB_MIN_COUNT))) == KERB_MIN_COUNT
            for i in range(n)]
    marked = sorted({(i - k) % n for i in range(n) if kerb[i] for k in range(KERB_MIN_COUNT)})
    return marked, dbeta


@pytest.mark.parametrize("track", ["kidney", 3, 7])
def test_kerbs_follow_carracings_rule(track):
    t = load_track(track) if isinstance(track, str) else track_from_array(generate_track(track), name="g")
    sim = build_sim_track(t)
    marked, dbeta = _reference_kerbs(sim)
    assert len(marked) > 0 and len(sim.kerb_polys) == len(marked)
    for (quad, white), i in zip(sim.kerb_polys, marked):
        assert white == (i % 2 == 0)
        # the kerb's inner edge is the tile's road edge on the outside of the turn; it is 8/6 wide
        side = -np.sign(dbeta[i]) if dbeta[i] != 0 else 1.0
        left, right, right_prev, left_prev = sim.tile_polys[i]
        np.testing.assert_allclose([quad[0], quad[3]], [right, right_prev] if side > 0 else [left, left_prev],
                                   atol=1e-9)
        assert np.hypot(*(quad[1] - quad[0])) == pytest.approx(8.0 / 6.0)
        assert np.hypot(*(quad[2] - quad[3])) == pytest.approx(8.0 / 6.0)


def test_road_bodies_match_create_static_body():
    """The road _build_road makes equals CarRacing's CreateStaticBody(fixtures=fd_tile) + sensor road."""
    env = DeepRacerEnv("kidney", obs="features")
    env.reset(seed=0)
    ref = []
    for poly in env.sim_track.tile_polys:
        env.fd_tile.shape.vertices = [(float(x), float(y)) for x, y in poly]
        t = env.world.CreateStaticBody(fixtures=env.fd_tile)
        t.fixtures[0].sensor = True
        ref.append(t)
    try:
        assert len(env.road) == len(ref) == len(env.sim_track.tile_polys)
        for i, (ours, theirs) in enumerate(zip(env.road, ref)):
            assert ours.userData is ours and ours.idx == i and ours.road_friction == 1.0
            if not ours.road_visited:  # reset settles the car on its start tiles, which repaints them
                np.testing.assert_array_equal(ours.color, env.road_color + 0.01 * (i % 3) * 255)
            assert ours.type == theirs.type and tuple(ours.position) == tuple(theirs.position)
            assert ours.angle == theirs.angle and ours.awake == theirs.awake and ours.active == theirs.active
            (fa,), (fb,) = ours.fixtures, theirs.fixtures
            assert fa.sensor and fb.sensor
            assert (fa.friction, fa.density, fa.restitution) == (fb.friction, fb.density, fb.restitution)
            assert (fa.filterData.categoryBits, fa.filterData.maskBits, fa.filterData.groupIndex) == \
                (fb.filterData.categoryBits, fb.filterData.maskBits, fb.filterData.groupIndex)
            assert fa.shape.vertices == fb.shape.vertices
            assert list(fa.shape.normals) == list(fb.shape.normals)
            assert tuple(fa.shape.centroid) == tuple(fb.shape.centroid)
            # road_poly keeps the quad as given (Box2D reorders a shape's vertices into its hull)
            assert env.road_poly[i][0] == [(float(x), float(y)) for x, y in env.sim_track.tile_polys[i]]
            assert env.road_poly[i][1] is ours.color
    finally:
        env.close()
