"""TORCS tracks as racingline :class:`~racingline.Track` objects (middle line and borders, metres).

racingline's robot writes a track's shape when asked (``RACINGLINE_TORCS_TRACK_OUT``) and exits; the result
is kept in the cache (``tracks/<category>/<name>.txt``), so each track is read from TORCS once.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from racingline.torcs.install import TorcsError, TorcsInstall, cache_dir, find_torcs, resolve_track
from racingline.torcs.race import race_xml, torcs_env, write_local_dir
from racingline.tracks.files import Track

__all__ = ["torcs_track", "track_file"]


def track_file(track: str) -> Path:
    """Where the shape of TORCS track ``category/name`` is cached."""
    return cache_dir() / "tracks" / f"{track}.txt"


def _dump(install: TorcsInstall, lib_dir: Path, track: str, out: Path) -> None:
    from racingline.torcs.process import die_with_parent

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="racingline-torcs-track-") as tmp:
        local = write_local_dir(Path(tmp) / "local")
        race = Path(tmp) / "race.xml"
        race.write_text(race_xml(track, [("racingline", 0)], 1), encoding="utf-8")
        part = out.with_name(f".{out.name}.{os.getpid()}.part")
        cmd = [str(install.binary), "-l", str(local), "-L", str(lib_dir), "-D", str(install.data_dir), "-r", str(race)]
        try:
            done = subprocess.run(cmd, cwd=install.data_dir, capture_output=True, timeout=60,
                                  env=torcs_env(install, {"RACINGLINE_TORCS_TRACK_OUT": str(part)}),
                                  preexec_fn=die_with_parent(os.getpid()))
        except subprocess.TimeoutExpired:
            raise TorcsError(f"{track}: TORCS did not load the track within 60 s") from None
        if done.returncode != 0 or not part.is_file():
            part.unlink(missing_ok=True)
            tail = (done.stdout + done.stderr).decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise TorcsError(f"{track}: TORCS could not load the track (exit {done.returncode}: {tail[0]})")
        os.replace(part, out)


def torcs_track(track: str, *, install: TorcsInstall | None = None) -> Track:
    """The TORCS track ``track`` (``road/g-track-1``) as a :class:`Track` named ``category/name``.

    Waypoints every ~2 m: the middle line, the inside and the outside border (inside = the border on the
    side the track mostly turns to). Raises :class:`TorcsError` for an unknown track or a missing robot.
    """
    from racingline.torcs.setup import ready_lib_dir

    install = install or find_torcs()
    name = resolve_track(install, track)
    path = track_file(name)
    if not path.is_file():
        _dump(install, ready_lib_dir(install), name, path)
    data = np.loadtxt(path, comments="#", ndmin=2)
    center, left, right = data[:, 0:2], data[:, 2:4], data[:, 4:6]
    x, y = center[:, 0], center[:, 1]
    area = 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))  # > 0: anticlockwise, turns left
    inside, outside = (left, right) if area > 0 else (right, left)
    return Track(name=name, waypoints=np.stack([center, inside, outside], axis=1), source=str(path))
