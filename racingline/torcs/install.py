"""Where TORCS and racingline's TORCS files are: the installed game, its tracks and robots, the user cache.

TORCS is found as ``RACINGLINE_TORCS`` (the ``torcs`` start script or ``torcs-bin``) when set, else as
``torcs`` on ``PATH`` or in ``/usr/games``; its library and data folders are read from the start script
(Debian: ``/usr/lib/x86_64-linux-gnu/torcs`` and ``/usr/share/games/torcs``). racingline's own files
(headers, the built robot module, a library folder of links) live in :func:`cache_dir`.
"""

from __future__ import annotations

import os
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from racingline.errors import RacinglineError

__all__ = [
    "TorcsError", "TorcsMissing", "TorcsInstall", "RobotSpec", "APT_PACKAGES", "find_torcs", "cache_dir",
    "track_categories", "list_tracks", "resolve_track", "list_robots", "resolve_robot", "ROBOT_MODULE",
]

#: The Debian packages TORCS support needs: the game (with its data), the plib headers TORCS's headers
#: include, and the C++ compiler that builds racingline's robot module.
APT_PACKAGES: tuple[str, ...] = ("torcs", "libplib-dev", "g++")
#: The name of racingline's robot module (``drivers/racingline/racingline.so``).
ROBOT_MODULE = "racingline"
#: Robot modules that do not drive by themselves (racingline's bridge, TORCS's keyboard driver).
_NOT_ROBOTS = (ROBOT_MODULE, "human")
_DEFAULT_LIB = Path("/usr/lib/x86_64-linux-gnu/torcs")
_DEFAULT_DATA = Path("/usr/share/games/torcs")


class TorcsError(RacinglineError, ValueError):
    """TORCS or racingline's TORCS files cannot be used (a message saying what to do)."""


class TorcsMissing(TorcsError):
    """TORCS (or a package TORCS support needs) is not installed."""


def install_hint(packages: tuple[str, ...] | list[str] = APT_PACKAGES) -> str:
    """The command that installs ``packages`` (as root)."""
    return f"apt-get install -y {' '.join(packages)}"


@dataclass(frozen=True)
class TorcsInstall:
    """An installed TORCS: ``binary`` (``torcs-bin``), its library folder (robots in ``drivers/``, simulator
    and track loader in ``modules/``, shared libraries in ``lib/``) and its data folder (tracks, cars)."""

    binary: Path
    lib_dir: Path
    data_dir: Path

    @property
    def shared_lib_dir(self) -> Path:
        """Where ``libtgf.so`` and ``librobottools.so`` are (``LD_LIBRARY_PATH`` of a TORCS process)."""
        return self.lib_dir / "lib"


def _script_dirs(script: Path) -> tuple[Path, Path] | None:
    """LIBDIR and DATADIR as the ``torcs`` start script sets them (its shell variables expanded)."""
    try:
        text = script.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    values: dict[str, str] = {}
    for name, value in re.findall(r"^([A-Za-z_]+)=(\S+)\s*$", text, flags=re.M):
        values[name] = re.sub(r"\$\{?([A-Za-z_]+)\}?", lambda m: values.get(m.group(1), ""), value)
    if "LIBDIR" in values and "DATADIR" in values:
        return Path(values["LIBDIR"]), Path(values["DATADIR"])
    return None


def find_torcs() -> TorcsInstall:
    """The installed TORCS, or :class:`TorcsMissing` saying how to install it (one line)."""
    given = os.environ.get("RACINGLINE_TORCS")
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise TorcsMissing(f"RACINGLINE_TORCS={given}: no such file (point it at TORCS's 'torcs' start script "
                               f"or 'torcs-bin', or unset it; install TORCS with: {install_hint(('torcs',))})")
    else:
        found = shutil.which("torcs") or shutil.which("torcs", path="/usr/games")
        if found is None:
            raise TorcsMissing(f"TORCS is not installed (no 'torcs' on PATH nor in /usr/games); install it as "
                               f"root with: {install_hint()}")
        path = Path(found)
    if path.name == "torcs-bin":
        lib_dir, data_dir = path.parent, _DEFAULT_DATA
        binary = path
    else:
        lib_dir, data_dir = _script_dirs(path) or (_DEFAULT_LIB, _DEFAULT_DATA)
        binary = lib_dir / "torcs-bin"
    if not binary.is_file():
        raise TorcsMissing(f"{binary}: TORCS's program is missing (a broken install? reinstall with: "
                           f"{install_hint(('torcs',))})")
    if not (data_dir / "tracks").is_dir():
        raise TorcsMissing(f"{data_dir}: TORCS's data (tracks, cars) is missing; install it with: "
                           f"{install_hint(('torcs',))}")
    return TorcsInstall(binary=binary, lib_dir=lib_dir, data_dir=data_dir)


def cache_dir() -> Path:
    """racingline's TORCS folder in the user cache: ``$XDG_CACHE_HOME/racingline/torcs``
    (``~/.cache/racingline/torcs``); ``RACINGLINE_TORCS_CACHE`` overrides it."""
    given = os.environ.get("RACINGLINE_TORCS_CACHE")
    if given:
        return Path(given).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "racingline" / "torcs"


# ---------------------------------------------------------------------------------------------- tracks
def track_categories(install: TorcsInstall) -> list[str]:
    """TORCS's track categories (``road``, ``oval``, ``dirt``)."""
    return sorted(p.name for p in (install.data_dir / "tracks").iterdir() if p.is_dir())


def list_tracks(install: TorcsInstall, category: str | None = None) -> list[str]:
    """Every installed track as ``category/name`` (e.g. ``road/g-track-1``), sorted."""
    out = []
    for cat in track_categories(install):
        if category is not None and cat != category:
            continue
        for p in sorted((install.data_dir / "tracks" / cat).iterdir()):
            if (p / f"{p.name}.xml").is_file():
                out.append(f"{cat}/{p.name}")
    return out


def resolve_track(install: TorcsInstall, name: str) -> str:
    """``category/name`` of the TORCS track ``name`` (``road/g-track-1``, or ``g-track-1`` when unique).

    Raises :class:`TorcsError` naming the track and listing the tracks of its category.
    """
    tracks = list_tracks(install)
    text = str(name).strip().strip("/")
    if text in tracks:
        return text
    if "/" not in text:
        matches = [t for t in tracks if t.split("/", 1)[1] == text]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise TorcsError(f"{name}: several TORCS tracks have this name ({', '.join(matches)}); give the category")
    category = text.split("/", 1)[0] if "/" in text else "road"
    known = [t for t in tracks if t.startswith(category + "/")] or tracks
    raise TorcsError(f"{name}: no such TORCS track; installed {category} tracks: "
                     f"{', '.join(t.split('/', 1)[1] if '/' in text else t for t in known)}")


# ---------------------------------------------------------------------------------------------- robots
@dataclass(frozen=True)
class RobotSpec:
    """One driver of a shipped robot module: ``module`` and its ``index``, with its name and car."""

    module: str
    index: int
    name: str
    car: str

    def __str__(self) -> str:
        return f"{self.module}:{self.index}"


def _robot_drivers(install: TorcsInstall, module: str) -> list[tuple[int, str, str]]:
    """``(index, name, car)`` of each driver a robot module's XML declares."""
    path = install.data_dir / "drivers" / module / f"{module}.xml"
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return []
    out = []
    for section in root.iter("section"):
        if section.get("name") != "index":
            continue
        for driver in section.findall("section"):
            attrs = {a.get("name"): a.get("val") for a in driver if a.tag == "attstr"}
            try:
                out.append((int(driver.get("name", "")), attrs.get("name") or "", attrs.get("car name") or ""))
            except ValueError:
                continue
    return out


def _car_installed(install: TorcsInstall, car: str) -> bool:
    return bool(car) and (install.data_dir / "cars" / car / f"{car}.xml").is_file()


def list_robots(install: TorcsInstall) -> list[RobotSpec]:
    """Every driver of the installed robot modules whose car is installed (a driver whose car Debian's data
    package leaves out cannot race)."""
    out = []
    for d in sorted((install.lib_dir / "drivers").iterdir()):
        if d.name in _NOT_ROBOTS or not (d / f"{d.name}.so").is_file():
            continue
        for index, name, car in _robot_drivers(install, d.name):
            if _car_installed(install, car):
                out.append(RobotSpec(d.name, index, name, car))
    return out


def resolve_robot(install: TorcsInstall, spec: str) -> RobotSpec:
    """A shipped robot driver from ``NAME`` (its first driver whose car is installed) or ``NAME:INDEX``.

    Raises :class:`TorcsError` (one line) for an unknown module, index, or a driver whose car is missing.
    """
    text = str(spec).strip()
    module, _, index_text = text.partition(":")
    modules = sorted(d.name for d in (install.lib_dir / "drivers").iterdir()
                     if d.name not in _NOT_ROBOTS and (d / f"{d.name}.so").is_file())
    if module not in modules:
        raise TorcsError(f"{spec}: no such TORCS robot; installed robots: {', '.join(modules)}")
    drivers = _robot_drivers(install, module)
    usable = [(i, n, c) for i, n, c in drivers if _car_installed(install, c)]
    if not index_text:
        if not usable:
            raise TorcsError(f"{spec}: none of this robot's drivers has its car installed")
        i, n, c = usable[0]
        return RobotSpec(module, i, n, c)
    try:
        index = int(index_text)
    except ValueError:
        raise TorcsError(f"{spec}: the index after ':' must be a number, e.g. {module}:{usable[0][0] if usable else 0}"
                         ) from None
    found = [(i, n, c) for i, n, c in drivers if i == index]
    if not found:
        raise TorcsError(f"{spec}: robot {module} has no driver {index}; its drivers: "
                         f"{', '.join(str(i) for i, _, _ in drivers)}")
    i, n, c = found[0]
    if not _car_installed(install, c):
        hint = f"; drivers with installed cars: {', '.join(str(u[0]) for u in usable)}" if usable else ""
        raise TorcsError(f"{spec}: its car {c!r} is not installed (Debian's torcs-data leaves it out){hint}")
    return RobotSpec(module, i, n, c)
