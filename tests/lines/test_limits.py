"""Car limits (racingline.lines.limits): the shipped table, files, look-ups, and one small simulator run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from racingline.errors import RacinglineError
from racingline.lines.limits import (
    DEFAULT_LIMITS_PATH,
    CarLimits,
    LimitsError,
    load_limits,
    save_limits,
    straight_run,
)


def flat_limits(top: float = 4.0, lat: float = 8.0, accel: float = 2.0, brake: float = 8.0) -> CarLimits:
    return CarLimits(top, [0.0, top], [accel, accel], [0.0, top], [brake, brake], [0.0, top], [lat, lat])


def test_shipped_limits_are_physically_sensible():
    limits = load_limits()
    assert 3.0 <= limits.top_speed_mps <= 5.0
    assert limits.accel_at(0.5) > 0 and limits.accel_at(1.0) > 0
    assert limits.accel_at(limits.top_speed_mps) == 0.0
    assert all(limits.brake_at(v) > 0 for v in (0.5, 2.0, limits.top_speed_mps))
    assert all(limits.lat_accel_at(v) > 0 for v in (0.5, 2.0, limits.top_speed_mps))
    # No guessed numbers: the file says how it was measured.
    assert limits.meta["frame_skip"] == 1
    assert limits.meta["measured_by"] == "racingline.lines.limits.measure_limits"
    assert {"straight", "circles"} <= set(limits.meta["manoeuvres"])
    assert load_limits(DEFAULT_LIMITS_PATH).top_speed_mps == limits.top_speed_mps


def test_save_and_load_round_trip(tmp_path):
    limits = load_limits()
    path = save_limits(limits, tmp_path / "limits.json")
    again = load_limits(path)
    assert again.top_speed_mps == limits.top_speed_mps
    for name in ("accel_speed_mps", "accel_mps2", "brake_speed_mps", "brake_mps2", "lat_speed_mps", "lat_accel_mps2"):
        assert np.array_equal(getattr(again, name), getattr(limits, name)), name
    assert again.meta == limits.meta


def test_lookups_interpolate_and_hold_the_ends():
    limits = CarLimits(4.0, [0.0, 2.0, 4.0], [2.0, 1.0, 0.0], [1.0, 3.0], [6.0, 8.0], [1.0, 3.0], [5.0, 7.0])
    assert limits.accel_at(1.0) == pytest.approx(1.5)
    assert limits.accel_at(5.0) == 0.0
    assert limits.brake_at(0.0) == 6.0 and limits.brake_at(2.0) == pytest.approx(7.0) and limits.brake_at(9) == 8.0
    assert np.allclose(limits.lat_accel_at(np.array([0.0, 2.0, 4.0])), [5.0, 6.0, 7.0])


def test_max_speed_for_curvature_solves_the_grip_equation():
    flat = flat_limits(lat=8.0)
    assert flat.max_speed_for_curvature(0.0) == 4.0
    assert flat.max_speed_for_curvature(-2.0) == pytest.approx(2.0)  # sign ignored: sqrt(8 / 2)
    assert flat.max_speed_for_curvature(0.1) == 4.0  # capped by the top speed
    # A grip that changes with speed: v^2 k = lat(v) at the answer, and lower speeds all hold.
    limits = CarLimits(4.0, [0.0, 4.0], [2.0, 2.0], [0.0, 4.0], [8.0, 8.0], [1.0, 2.0, 3.0], [9.0, 6.0, 7.0])
    k = np.array([0.5, 1.0, 1.8, 3.0, 10.0])
    v = limits.max_speed_for_curvature(k)
    assert v.shape == k.shape and np.all(np.diff(v) <= 1e-12)
    assert np.allclose(v * v * k, limits.lat_accel_at(v), rtol=1e-9)
    for vi, ki in zip(v, k):
        grid = np.linspace(0, vi, 200)
        assert np.all(grid * grid * ki <= limits.lat_accel_at(grid) + 1e-9)


def write(path, data) -> str:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def good() -> dict:
    return flat_limits().to_dict()


@pytest.mark.parametrize("case, expect", [
    ("missing", "no such car-limits file"),
    ("not json", "not a car-limits JSON file"),
    ("nan", "not a car-limits JSON file"),
    ("nan list", "non-finite"),
    ("wrong lengths", "accel_speed_mps has 2 values but accel_mps2 has 3"),
    ("missing key", "missing brake_mps2"),
    ("wrong format", "not a car-limits file"),
    ("a list", "not a car-limits file"),
    ("decreasing speeds", "strictly increasing"),
    ("negative brake", "brake_mps2 must be positive"),
    ("zero top speed", "top_speed_mps must be a positive finite number"),
    ("strings", "must be a list of numbers"),
    ("empty", "non-empty"),
])
def test_bad_limits_files_name_the_file(tmp_path, case, expect):
    path = tmp_path / "bad.json"
    data = good()
    if case == "missing":
        pass
    elif case == "not json":
        write(path, "{ not json")
    elif case == "nan":
        write(path, json.dumps(data).replace('"top_speed_mps": 4.0', '"top_speed_mps": NaN'))
    elif case == "nan list":
        write(path, json.dumps(data).replace('"lat_accel_mps2": [8.0, 8.0]', '"lat_accel_mps2": [8.0, 1e999]'))
    elif case == "wrong lengths":
        write(path, data | {"accel_mps2": [1.0, 1.0, 1.0]})
    elif case == "missing key":
        del data["brake_mps2"]
        write(path, data)
    elif case == "wrong format":
        write(path, data | {"format": "something-else"})
    elif case == "a list":
        write(path, [1, 2, 3])
    elif case == "decreasing speeds":
        write(path, data | {"brake_speed_mps": [4.0, 0.0]})
    elif case == "negative brake":
        write(path, data | {"brake_mps2": [8.0, -1.0]})
    elif case == "zero top speed":
        write(path, data | {"top_speed_mps": 0})
    elif case == "strings":
        write(path, data | {"lat_speed_mps": ["a", "b"]})
    elif case == "empty":
        write(path, data | {"lat_speed_mps": [], "lat_accel_mps2": []})
    with pytest.raises(LimitsError) as info:
        load_limits(path)
    assert isinstance(info.value, RacinglineError)
    message = str(info.value)
    assert message.startswith(str(path)) and expect in message, message


def test_bad_tables_in_code_raise():
    with pytest.raises(LimitsError, match="accel_mps2 is zero everywhere"):
        CarLimits(4.0, [0.0, 4.0], [0.0, 0.0], [0.0], [8.0], [0.0], [8.0])
    with pytest.raises(LimitsError, match="lat_accel_mps2 holds non-finite"):
        CarLimits(4.0, [0.0], [1.0], [0.0], [8.0], [0.0], [math.nan])


def test_a_short_straight_run_in_the_simulator():
    """Smoke test of one manoeuvre: 0.6 s of full throttle, then full brake, on the real env."""
    run = straight_run(throttle_s=0.6, brake_s=1.0)
    v, t, braking = run["v"], run["t"], run["braking"]
    assert t[0] == 0.0 and v[0] < 0.05
    assert (run["on_road"] == 4).all() and np.abs(run["e"]).max() < 0.05
    gas = ~braking
    assert np.all(np.diff(v[gas]) > 0) and v[gas][-1] > 0.5  # gathers speed
    assert braking.any() and v[-1] < 1e-3  # and stops
    assert np.all(run["wheel_v"][gas][1:] > v[gas][1:])  # rear wheels spin faster than the ground goes
    # The shipped table describes this run: speed after 0.6 s and stopping time within 10 %.
    limits = load_limits()
    t_gas = t[gas][-1]
    vv, tt = 0.0, 0.0
    while tt < t_gas - 1e-9:
        vv += limits.accel_at(vv) * 0.02
        tt += 0.02
    assert v[gas][-1] == pytest.approx(vv, rel=0.1)
    stop_s = t[-1] - t_gas
    assert stop_s == pytest.approx(v[gas][-1] / limits.brake_at(1.0), rel=0.1, abs=0.04)
