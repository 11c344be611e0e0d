"""Lap-time anchors: TORCS's shipped robots racing alone, results-only, on the tracks an agent is judged on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from racingline.torcs.install import find_torcs, resolve_robot, resolve_track
from racingline.torcs.race import race_robots

__all__ = ["robot_lap_times"]


def robot_lap_times(tracks: Sequence[str], robots: Sequence[str] = ("bt", "berniw:1"), *, laps: int = 1
                    ) -> list[dict[str, Any]]:
    """Race each robot alone for ``laps`` laps from a standing start on each track (as the agent's episodes
    start); one row per (track, robot): ``track, robot, name, laps, time_s, best_lap_s, damage``.

    Every track and robot is checked first (:class:`~racingline.torcs.install.TorcsError`, one line).
    """
    from racingline.torcs.setup import ready_lib_dir

    install = find_torcs()
    names = [resolve_track(install, t) for t in tracks]
    specs = [str(resolve_robot(install, r)) for r in robots]
    lib = ready_lib_dir(install)
    rows = []
    for track in names:
        for spec in specs:
            (result,) = race_robots(install, lib, track, [spec], laps=laps)
            rows.append({"track": track, **result.to_dict()})
    return rows
