"""TORCS, the open racing simulator, as a second racingline backend.

- :mod:`~racingline.torcs.install`: finding TORCS, its tracks and robots; the user cache.
- :mod:`~racingline.torcs.setup`: headers from Debian's source package, racingline's robot built and checked.
- :mod:`~racingline.torcs.race`: race files (YAML) to TORCS's XML; races of shipped robots (anchors).
- :mod:`~racingline.torcs.process`: one TORCS process, its private folder and port, the SCR messages.
- :mod:`~racingline.torcs.env`: :class:`TorcsEnv`, the Gymnasium env.
- :mod:`~racingline.torcs.tracks`: TORCS tracks as racingline :class:`~racingline.Track` objects.
"""

from __future__ import annotations

__all__ = ["TorcsEnv", "TorcsError"]


def __getattr__(name: str):
    if name == "TorcsEnv":
        from racingline.torcs.env import TorcsEnv

        return TorcsEnv
    if name == "TorcsError":
        from racingline.torcs.install import TorcsError

        return TorcsError
    raise AttributeError(f"module 'racingline.torcs' has no attribute {name!r}")
