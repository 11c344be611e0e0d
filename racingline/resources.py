"""Where the package's own data lives: shipped configs, the project's tracks and the track catalog.

They are package data (``racingline/data/``), read through :mod:`importlib.resources`, so a wheel
installed anywhere finds them; the checkout's top-level ``configs/`` and ``tracks/`` are links to them.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["DATA_DIR", "CONFIGS_DIR", "PROJECT_TRACKS_DIR", "CATALOG_PATH"]

#: The package's data folder (a real folder: wheels install unpacked).
DATA_DIR = Path(str(files("racingline").joinpath("data")))
#: Shipped training configs (``racingline train --config NAME``).
CONFIGS_DIR = DATA_DIR / "configs"
#: The project's own tracks (found by name from anywhere).
PROJECT_TRACKS_DIR = DATA_DIR / "tracks"
#: The catalog of known DeepRacer tracks.
CATALOG_PATH = PROJECT_TRACKS_DIR / "catalog.csv"
