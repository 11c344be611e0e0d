"""ProgressTracker: signed centerline advance, jumps across the infield ignored, laps (racingline.sim.progress)."""

from __future__ import annotations

import pytest

from racingline import load_track
from racingline.sim.geometry import build_sim_track
from racingline.sim.progress import ProgressTracker


@pytest.fixture(scope="module")
def sim():
    return build_sim_track(load_track("kidney"))


def test_driving_the_centerline_completes_a_lap(sim):
    tracker = ProgressTracker(sim, 0, max_jump=20.0)
    n = len(sim.dense_xy)
    total = 0.0
    for i in range(1, n + 1):
        x, y = sim.dense_xy[i % n]
        total += tracker.update(float(x), float(y))
        if tracker.lap_complete:
            break
    assert tracker.lap_complete and tracker.progress == pytest.approx(100.0)
    assert total == pytest.approx(tracker.u) and tracker.u == pytest.approx(sim.length, abs=sim.ds)


def test_backwards_is_negative_and_not_counted_twice(sim):
    tracker = ProgressTracker(sim, 100, max_jump=20.0)
    for i in range(101, 121):
        tracker.update(*map(float, sim.dense_xy[i]))
    best = tracker.progress
    back = sum(tracker.update(*map(float, sim.dense_xy[i])) for i in range(119, 99, -1))
    assert back == pytest.approx(-20 * sim.ds)
    assert tracker.progress == best  # the best advance stands
    for i in range(101, 121):  # driving the same stretch again adds nothing
        tracker.update(*map(float, sim.dense_xy[i]))
    assert tracker.progress == best and not tracker.lap_complete


def test_a_jump_across_the_infield_is_not_progress(sim):
    tracker = ProgressTracker(sim, 0, max_jump=20.0)
    far = sim.dense_xy[len(sim.dense_xy) // 2]
    assert tracker.update(float(far[0]), float(far[1])) == 0.0
    assert tracker.progress == 0.0 and tracker.proj == len(sim.dense_xy) // 2
