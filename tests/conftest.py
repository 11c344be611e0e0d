"""Shared test fixtures: paths to the development tracks (skipped cleanly when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # never open a window, even by accident
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

REPO = Path(__file__).resolve().parents[1]
SHARED_2022 = REPO.parent / "shared" / "tracks" / "2022"


@pytest.fixture
def shared_2022() -> Path:
    """The 2022 DeepRacer tracks folder (../shared/tracks/2022), or skip."""
    if not SHARED_2022.is_dir():
        pytest.skip("../shared/tracks/2022 is not present")
    return SHARED_2022


@pytest.fixture()
def env(tmp_path, monkeypatch) -> Path:
    """A test in its own working folder, with its own cache and no RACINGLINE_TRACKS."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("RACINGLINE_TRACKS", raising=False)
    return tmp_path


@pytest.fixture(autouse=True)
def _isolated_track_dirs(tmp_path_factory, monkeypatch):
    """Keep tests away from the user's download cache and RACINGLINE_TRACKS."""
    monkeypatch.delenv("RACINGLINE_TRACKS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture(scope="session")
def features_run(tmp_path_factory) -> Path:
    """A tiny trained run with feature observations (see ``helpers.make_tiny_run``); copy it before changing it."""
    from helpers import make_tiny_run

    return make_tiny_run(tmp_path_factory.mktemp("runs") / "features", "features")


@pytest.fixture(scope="session")
def pixels_run(tmp_path_factory) -> Path:
    """A tiny trained run with 4 stacked pixel frames (see ``helpers.make_tiny_run``); copy it before changing it."""
    from helpers import make_tiny_run

    return make_tiny_run(tmp_path_factory.mktemp("runs") / "pixels", "pixels")
