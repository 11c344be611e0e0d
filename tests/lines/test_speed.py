"""Speed profile (racingline.lines.speed): analytic ring, standing start, braking zone, speed_scale, inputs."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from racingline.errors import RacinglineError
from racingline.lines.limits import CarLimits, load_limits
from racingline.lines.speed import speed_profile


def ring(r: float, spacing: float = 0.1) -> np.ndarray:
    n = max(int(round(2 * math.pi * r / spacing)), 12)
    a = 2 * math.pi * np.arange(n) / n
    return np.stack([r * np.cos(a), r * np.sin(a)], axis=1)


def polygon_length(xy: np.ndarray) -> float:
    d = np.roll(xy, -1, axis=0) - xy
    return float(np.hypot(d[:, 0], d[:, 1]).sum())


@pytest.mark.parametrize("r", [0.4, 1.0, 1.7, 3.0, 6.0])
def test_ring_speed_is_constant_and_the_lap_is_length_over_speed(r):
    limits = load_limits()
    xy = ring(r, spacing=0.02)
    prof = speed_profile(xy, limits)
    v = min(limits.top_speed_mps, limits.max_speed_for_curvature(1.0 / r))
    if v < limits.top_speed_mps:  # the grip equation: v^2 / r = a_lat(v)
        assert v * v / r == pytest.approx(limits.lat_accel_at(v), rel=1e-6)
    assert np.allclose(prof.speed_mps, v, rtol=1e-9)
    assert prof.lap_time_flying_s == pytest.approx(polygon_length(xy) / v, rel=1e-9)
    assert prof.lap_time_flying_s == pytest.approx(2 * math.pi * r / v, rel=1e-3)
    assert prof.time_s[0] == 0.0 and np.all(np.diff(prof.time_s) > 0)
    # Standing start: from 0, slower than the flying lap, never above it.
    assert prof.standing_speed_mps[0] == 0.0
    assert prof.lap_time_standing_s > prof.lap_time_flying_s
    assert np.all(prof.standing_speed_mps <= prof.speed_mps + 1e-12)


def test_ring_with_a_flat_grip_matches_the_formula():
    limits = CarLimits(5.0, [0.0, 5.0], [2.0, 2.0], [0.0, 5.0], [6.0, 6.0], [0.0, 5.0], [4.0, 4.0])
    xy = ring(2.0)
    prof = speed_profile(xy, limits)
    assert np.allclose(prof.speed_mps, math.sqrt(4.0 * 2.0))
    # Without the friction circle the standing start is a constant-acceleration run up to that speed.
    plain = speed_profile(xy, limits, friction_circle=False)
    v = math.sqrt(8.0)
    s_acc = v * v / (2 * 2.0)
    t_expect = v / 2.0 + (polygon_length(xy) - s_acc) / v
    assert plain.lap_time_standing_s == pytest.approx(t_expect, rel=2e-3)
    # Sharing grip with cornering only makes the standing start slower.
    assert prof.lap_time_standing_s > plain.lap_time_standing_s


def test_the_car_brakes_before_a_hairpin_no_harder_than_it_can():
    limits = load_limits()
    spacing = 0.05
    straight, r_tight = 20.0, 0.5
    n = int(straight / spacing)
    m = int(math.pi * r_tight / spacing)
    lower = [(i * spacing, -r_tight) for i in range(n)]
    turn = [(straight + r_tight * math.cos(a), r_tight * math.sin(a)) for a in -0.5 * math.pi + math.pi * np.arange(m) / m]
    upper = [(straight - i * spacing, r_tight) for i in range(n)]
    back = [(r_tight * math.cos(a), r_tight * math.sin(a)) for a in 0.5 * math.pi + math.pi * np.arange(m) / m]
    xy = np.array(lower + turn + upper + back)
    prof = speed_profile(xy, limits)
    v = prof.speed_mps
    v_turn = limits.max_speed_for_curvature(1.0 / r_tight)
    assert v[n + m // 2] == pytest.approx(v_turn, rel=1e-2)  # the apex at its grip limit
    assert v[n // 2] == pytest.approx(limits.top_speed_mps)  # top speed down the straight
    # Braking zone: from the last top-speed point of the lower straight to the hairpin's entry.
    lower_v = v[:n]
    start = int(np.flatnonzero(lower_v >= limits.top_speed_mps - 1e-9)[-1])
    zone = v[start:n + 1]
    assert len(zone) > 5
    assert np.all(np.diff(zone) <= 1e-12)  # monotonically slower
    ds = spacing
    decel = (zone[:-1] ** 2 - zone[1:] ** 2) / (2 * ds)
    assert np.all(decel <= limits.brake_at(zone[1:]) * (1 + 1e-6))  # no harder than full brake
    assert decel.max() == pytest.approx(limits.brake_at(3.0), rel=1e-2)  # and full brake on the straight
    # Braking distance from top speed to the turn's speed is v^2 / (2 b) or a little more (the grip shared
    # as the turn begins).
    reached = start + int(np.argmax(v[start:] <= v_turn * 1.001))
    assert np.all(np.diff(v[start:reached + 1]) <= 1e-12)
    dist = (reached - start) * ds
    assert dist >= (limits.top_speed_mps ** 2 - v_turn ** 2) / (2 * limits.brake_at(3.0)) * 0.99
    # Acceleration out of the turn: no faster than full throttle.
    out = v[n + m:2 * n + m]
    gain = (out[1:] ** 2 - out[:-1] ** 2) / (2 * ds)
    assert np.all(gain <= limits.accel_at(out[:-1]) * (1 + 1e-6) + 1e-9)


def test_profile_is_periodic_whatever_the_start_point():
    limits = load_limits()
    xy = np.array([(3 * math.cos(a) * (1 + 0.3 * math.cos(3 * a)), 2 * math.sin(a)) for a in
                   np.linspace(0, 2 * math.pi, 500, endpoint=False)])
    prof = speed_profile(xy, limits)
    for shift in (1, 137, 333):
        other = speed_profile(np.roll(xy, -shift, axis=0), limits)
        assert np.allclose(other.speed_mps, np.roll(prof.speed_mps, -shift), rtol=1e-9)
        assert other.lap_time_flying_s == pytest.approx(prof.lap_time_flying_s, rel=1e-9)
    assert prof.time_s[-1] + 2 * np.hypot(*(xy[0] - xy[-1])) / (prof.speed_mps[-1] + prof.speed_mps[0]) == \
        pytest.approx(prof.lap_time_flying_s)


def test_speed_scale_scales_the_caps():
    limits = load_limits()
    xy = ring(1.0)
    full = speed_profile(xy, limits)
    slow = speed_profile(xy, limits, speed_scale=0.8)
    assert np.allclose(slow.speed_mps, 0.8 * full.speed_mps)
    assert slow.lap_time_flying_s == pytest.approx(full.lap_time_flying_s / 0.8)
    assert np.all(speed_profile(ring(8.0), limits, speed_scale=0.9).speed_mps <= 0.9 * limits.top_speed_mps + 1e-9)


def test_a_60_m_line_at_10_cm_is_fast():
    limits = load_limits()
    a = np.linspace(0, 2 * math.pi, 600, endpoint=False)
    xy = np.stack([12 * np.cos(a), 6 * np.sin(a) * (1 + 0.2 * np.cos(2 * a))], axis=1)
    speed_profile(xy, limits)
    t0 = time.perf_counter()
    prof = speed_profile(xy, limits)
    assert time.perf_counter() - t0 < 0.1
    assert prof.speed_mps.shape == (600,) and prof.time_s.shape == (600,)


@pytest.mark.parametrize("xy, scale, match", [
    (np.zeros((10, 3)), 1.0, r"\(N, 2\)"),
    (np.zeros((2, 2)), 1.0, "at least 3 points"),
    (np.array([[0, 0], [1, 0], [np.nan, 1]]), 1.0, "non-finite"),
    (ring(1.0), 0.0, "speed_scale"),
    (ring(1.0), math.inf, "speed_scale"),
])
def test_bad_input_raises(xy, scale, match):
    with pytest.raises(RacinglineError, match=match):
        speed_profile(xy, load_limits(), speed_scale=scale)
