"""A scripted TORCS driver on :class:`~racingline.torcs.env.TorcsEnv`'s observation (setup's check, tests,
benchmarks): steer along the track, a target speed from the free road ahead."""

from __future__ import annotations

import numpy as np

from racingline.torcs.env import OBS_FIELDS, obs_index

__all__ = ["ScriptedDriver"]

_SCALE = {name: scale for name, _, scale in OBS_FIELDS}


class ScriptedDriver:
    """``driver(obs) -> [steer, gas, brake]``: steer toward the track direction and its middle; drive at a
    speed the free road straight ahead allows (``mps_per_m`` per metre of it, at most ``max_kmh``)."""

    def __init__(self, max_kmh: float = 150.0, min_kmh: float = 50.0, kmh_per_m: float = 1.0) -> None:
        self.max_kmh = float(max_kmh)
        self.min_kmh = float(min_kmh)
        self.kmh_per_m = float(kmh_per_m)
        self._angle = obs_index("angle")
        self._pos = obs_index("trackPos")
        self._speed = obs_index("speedX")
        self._track = obs_index("track")

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        angle = float(obs[self._angle][0]) * _SCALE["angle"]
        pos = float(obs[self._pos][0])
        speed_kmh = float(obs[self._speed][0]) * _SCALE["speedX"]
        ahead_m = float(obs[self._track][9]) * _SCALE["track"]
        # TORCS: angle > 0 when the track turns left of the car, trackPos > 0 left of the middle;
        # the action's steer is CarRacing's (+1 = right).
        steer = float(np.clip(-(angle - 0.5 * pos) / 0.5, -1.0, 1.0))
        target = float(np.clip(self.kmh_per_m * ahead_m, self.min_kmh, self.max_kmh))
        gas = 1.0 if speed_kmh < target else 0.0
        brake = 0.0 if speed_kmh < target + 10.0 else min(1.0, (speed_kmh - target) / 30.0)
        return np.array([steer, gas, brake], dtype=np.float32)
