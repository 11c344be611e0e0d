"""TORCS test fixtures: skip cleanly without TORCS, and use the user's built robot (``racingline torcs setup``).

The suite's autouse fixture points ``XDG_CACHE_HOME`` at an empty folder per test; racingline's TORCS cache
(headers, built robot, track shapes) is read from where it was before, through ``RACINGLINE_TORCS_CACHE``.
"""

from __future__ import annotations

import pytest

from racingline.torcs.install import TorcsError, find_torcs

from torcs_helpers import USER_CACHE


@pytest.fixture(scope="session")
def torcs_install():
    """The installed TORCS, or skip."""
    try:
        return find_torcs()
    except TorcsError as exc:
        pytest.skip(f"TORCS not installed ({exc})")


@pytest.fixture
def torcs(torcs_install, monkeypatch):
    """TORCS with racingline's robot built (``racingline torcs setup``), or skip."""
    from racingline.torcs.setup import ready_lib_dir

    monkeypatch.setenv("RACINGLINE_TORCS_CACHE", str(USER_CACHE))
    try:
        ready_lib_dir(torcs_install)
    except TorcsError as exc:
        pytest.skip(f"racingline's TORCS robot is not built ({exc})")
    return torcs_install
