"""Simulator environments: DeepRacerEnv and its observation modes and renderers."""

from racingline.sim.env import DeepRacerEnv

__all__ = ["DeepRacerEnv"]
