"""The CarRacing simulator: DeepRacerEnv composed of a track pool, road builder, progress tracker,
observers and rewards, all talking through the per-step :class:`CarState`."""

from racingline.sim.env import DeepRacerEnv
from racingline.sim.state import CarState

__all__ = ["DeepRacerEnv", "CarState"]
