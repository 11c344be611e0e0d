"""Simulator environments: DeepRacerEnv and its observation modes and renderers."""

from racingline.envs.deepracer import DeepRacerEnv

__all__ = ["DeepRacerEnv"]
