"""Observers: one small protocol (``observation_space`` + ``observe(state)``) and the built-in observations.

An observer turns the :class:`~racingline.sim.state.CarState` published after each reset and step into
the agent's observation. The choice list is :data:`racingline.choices.OBS_MODES` (and
:data:`racingline.choices.RENDERERS` for pixels).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
from gymnasium import spaces

from racingline.choices import OBS_MODES, RENDERERS
from racingline.sim.features import FEATURE_HIGH, FEATURE_LOW, compute_features, lookahead_offsets
from racingline.sim.raster import GRAY_WEIGHTS
from racingline.sim.state import CarState

__all__ = ["Observer", "FeatureObserver", "FastPixelObserver", "PygamePixelObserver", "make_observer"]


@runtime_checkable
class Observer(Protocol):
    """Turns a :class:`CarState` into an observation in ``observation_space``."""

    observation_space: spaces.Box

    def observe(self, state: CarState) -> np.ndarray: ...


class FeatureObserver:
    """The physics feature vector (:mod:`racingline.sim.features`): nothing is drawn."""

    def __init__(self) -> None:
        self.observation_space = spaces.Box(FEATURE_LOW, FEATURE_HIGH, dtype=np.float32)
        self._sim = None
        self._offsets: np.ndarray | None = None

    def observe(self, state: CarState) -> np.ndarray:
        if state.sim is not self._sim:
            self._sim = state.sim
            self._offsets = lookahead_offsets(state.sim)
        return compute_features(state, self._offsets)


def _pixel_space(size: int, grayscale: bool) -> spaces.Box:
    return spaces.Box(0, 255, shape=(size, size, 1 if grayscale else 3), dtype=np.uint8)


class FastPixelObserver:
    """CarRacing's car-centred view, sampled with NumPy from a pre-rasterised road (:class:`FastRenderer`)."""

    def __init__(self, size: int = 64, grayscale: bool = True) -> None:
        self.size = int(size)
        self.grayscale = bool(grayscale)
        self.observation_space = _pixel_space(self.size, self.grayscale)
        self.renderer = None  # built at the first observation (its tables cost a few ms)

    def observe(self, state: CarState) -> np.ndarray:
        if self.renderer is None:
            from racingline.sim.fast_render import FastRenderer

            self.renderer = FastRenderer(size=self.size, grayscale=self.grayscale)
        return self.renderer.render(state)


class PygamePixelObserver:
    """CarRacing's own pygame drawing of the view, scaled to ``size x size``.

    Args:
        draw: returns the simulator's current state pixels as ``(size, size, 3)`` RGB uint8 (the
            pygame drawing needs the CarRacing env itself, so the env hands in its drawing function).
    """

    def __init__(self, draw: Callable[[], np.ndarray], size: int = 64, grayscale: bool = True) -> None:
        self.draw = draw
        self.size = int(size)
        self.grayscale = bool(grayscale)
        self.observation_space = _pixel_space(self.size, self.grayscale)

    def observe(self, state: CarState) -> np.ndarray:
        frame = self.draw()
        if self.grayscale:
            frame = (frame.astype(np.float32) @ GRAY_WEIGHTS).astype(np.uint8)[:, :, None]
        return frame


def make_observer(obs: str, *, renderer: str = "fast", size: int = 64, grayscale: bool = True,
                  draw: Callable[[], np.ndarray] | None = None) -> Observer:
    """The built-in observer for ``obs`` (and ``renderer`` for pixels); ``draw`` is needed by ``pygame``."""
    if obs == "features":
        return FeatureObserver()
    if obs != "pixels":
        raise ValueError(f"obs: unknown observation mode {obs!r}; choose one of {', '.join(OBS_MODES)}")
    if renderer == "fast":
        return FastPixelObserver(size, grayscale)
    if renderer == "pygame":
        if draw is None:
            raise ValueError("renderer: 'pygame' needs the simulator's drawing function")
        return PygamePixelObserver(draw, size, grayscale)
    raise ValueError(f"renderer: unknown renderer {renderer!r}; choose one of {', '.join(RENDERERS)}")
