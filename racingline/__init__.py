"""racingline: train RL agents to drive AWS DeepRacer tracks in Gymnasium's CarRacing (Box2D)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("racingline")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["Track", "TrackError", "load_track", "TrackPool", "CarState", "DeepRacerEnv", "TorcsEnv", "make_env",
           "make_vec_env", "__version__"]


def __getattr__(name: str):
    # Everything is imported when first asked for: `import racingline` stays light (the CLI starts
    # fast and handles Ctrl-C from its first moment), and the simulator pulls in Box2D/pygame.
    if name in ("Track", "TrackError", "load_track"):
        from racingline.tracks import files

        return getattr(files, name)
    if name == "DeepRacerEnv":
        from racingline.sim import DeepRacerEnv

        return DeepRacerEnv
    if name == "TorcsEnv":  # TORCS as a second simulator (racingline torcs setup first)
        from racingline.torcs.env import TorcsEnv

        return TorcsEnv
    if name == "CarState":
        from racingline.sim.state import CarState

        return CarState
    if name == "TrackPool":
        from racingline.tracks.pools import TrackPool

        return TrackPool
    if name in ("make_env", "make_vec_env"):
        from racingline.sim import wrappers

        return getattr(wrappers, name)
    raise AttributeError(f"module 'racingline' has no attribute {name!r}")
