"""TORCS races from racingline's YAML: the race spec, TORCS's race/robot/engine XML, robot-only races.

A race file is YAML::

    track: road/g-track-1      # a TORCS track (category/name, or a unique name)
    laps: 1                    # laps of racingline's car (the episode ends after them)
    opponents: [bt, berniw:1]  # shipped robots (NAME or NAME:INDEX), racing for real
    start: 0                   # racingline's place on the starting grid (0 = pole)
    car: car1-stock1           # racingline's car (the car of bt's first driver and berniw's driver 1)

:func:`race_robots` races shipped robots alone in results-only mode (the lap-time anchors).
"""

from __future__ import annotations

import glob
import os
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import yaml

from racingline.torcs.install import ROBOT_MODULE, RobotSpec, TorcsError, TorcsInstall, resolve_robot, resolve_track

__all__ = ["RaceSpec", "load_race", "race_xml", "robot_xml", "engine_xml", "RobotResult", "race_robots",
           "DEFAULT_CAR", "RACE_NAME"]

#: racingline's car by default: the car of ``bt`` driver 0 and ``berniw`` driver 1, so lap times compare.
DEFAULT_CAR = "car1-stock1"
#: The race's name (TORCS writes its results under ``LOCALDIR/results/<file stem>/``).
RACE_NAME = "Quick Race"
_KEYS = ("track", "laps", "opponents", "start", "car")


@dataclass(frozen=True)
class RaceSpec:
    """A race: ``track`` (TORCS ``category/name``), racingline's ``laps``, shipped-robot ``opponents``
    (``NAME`` or ``NAME:INDEX``), racingline's grid place ``start`` and its ``car``."""

    track: str = "road/g-track-1"
    laps: int = 1
    opponents: tuple[str, ...] = field(default_factory=tuple)
    start: int = 0
    car: str = DEFAULT_CAR

    def checked(self, install: TorcsInstall) -> RaceSpec:
        """This race with the track resolved and every input checked (:class:`TorcsError`, one line)."""
        if int(self.laps) < 1:
            raise TorcsError(f"race laps: must be at least 1, got {self.laps}")
        if not 0 <= int(self.start) <= len(self.opponents):
            raise TorcsError(f"race start: racingline's grid place must be 0-{len(self.opponents)} "
                             f"(there are {len(self.opponents)} opponents), got {self.start}")
        if not (install.data_dir / "cars" / self.car / f"{self.car}.xml").is_file():
            cars = sorted(p.name for p in (install.data_dir / "cars").iterdir() if (p / f"{p.name}.xml").is_file())
            raise TorcsError(f"race car {self.car!r}: not an installed TORCS car; installed: {', '.join(cars)}")
        robots = [resolve_robot(install, o) for o in self.opponents]
        return replace(self, track=resolve_track(install, self.track), opponents=tuple(str(r) for r in robots))


def load_race(path: str | os.PathLike) -> RaceSpec:
    """A :class:`RaceSpec` from a YAML race file (keys: track, laps, opponents, start, car).

    Raises :class:`TorcsError` naming the file for unreadable YAML, an unknown key or a wrong type (the
    track and robots are checked against the installed TORCS by :meth:`RaceSpec.checked`).
    """
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TorcsError(f"{p}: no such race file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TorcsError(f"{p}: not a readable YAML race file ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise TorcsError(f"{p}: a race file is a mapping with the keys {', '.join(_KEYS)}")
    unknown = [k for k in data if k not in _KEYS]
    if unknown:
        raise TorcsError(f"{p}: unknown race key {unknown[0]!r}; valid keys: {', '.join(_KEYS)}")
    kw: dict[str, Any] = {}
    for key in ("track", "car"):
        if key in data:
            if not isinstance(data[key], str):
                raise TorcsError(f"{p}: race key {key!r} must be a string, got {data[key]!r}")
            kw[key] = data[key]
    for key in ("laps", "start"):
        if key in data:
            if not isinstance(data[key], int) or isinstance(data[key], bool):
                raise TorcsError(f"{p}: race key {key!r} must be an integer, got {data[key]!r}")
            kw[key] = data[key]
    if "opponents" in data:
        opp = data["opponents"] or []
        if isinstance(opp, str):
            opp = [opp]
        if not isinstance(opp, list) or not all(isinstance(o, str) for o in opp):
            raise TorcsError(f"{p}: race key 'opponents' must be a list of robot names, got {data['opponents']!r}")
        kw["opponents"] = tuple(opp)
    return RaceSpec(**kw)


# ---------------------------------------------------------------------------------------------- XML
def _att(kind: str, name: str, value: Any) -> str:
    return f'<att{kind} name={quoteattr(name)} val={quoteattr(str(value))}/>'


def race_xml(track: str, drivers: list[tuple[str, int]], laps: int, *, results_only: bool = True) -> str:
    """TORCS's race file (a Quick Race) on ``track`` (``category/name``) with ``drivers`` as
    ``(module, index)`` in grid order, ``laps`` laps, results-only (no window) unless ``results_only=False``."""
    category, name = track.split("/", 1)
    rows = "\n".join(f'      <section name="{i + 1}">{_att("num", "idx", idx)}{_att("str", "module", mod)}</section>'
                     for i, (mod, idx) in enumerate(drivers))
    mode = "results only" if results_only else "normal"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<params name="racingline race" type="param" mode="mw">
  <section name="Header">{_att("str", "name", "racingline race")}{_att("num", "priority", 10)}</section>
  <section name="Tracks">
    {_att("num", "maximum number", 1)}
    <section name="1">{_att("str", "name", name)}{_att("str", "category", category)}</section>
  </section>
  <section name="Races"><section name="1">{_att("str", "name", RACE_NAME)}</section></section>
  <section name="{RACE_NAME}">
    {_att("num", "distance", 0)}{_att("str", "type", "race")}{_att("str", "starting order", "drivers list")}
    {_att("str", "restart", "yes")}{_att("str", "display mode", mode)}{_att("num", "laps", int(laps))}
    <section name="Starting Grid">
      {_att("num", "rows", 2)}{_att("num", "distance to start", 25)}{_att("num", "distance between columns", 20)}
      {_att("num", "offset within a column", 10)}{_att("num", "initial speed", 0)}{_att("num", "initial height", 0.2)}
    </section>
  </section>
  <section name="Drivers">
    {_att("num", "maximum number", 40)}{_att("num", "focused idx", drivers[0][1])}{_att("str", "focused module", drivers[0][0])}
{rows}
  </section>
</params>
"""


def robot_xml(car: str, n: int = 1) -> str:
    """The XML of racingline's robot module: ``n`` drivers ``racingline 1..n`` driving ``car``."""
    rows = "\n".join(
        f'      <section name="{i}">{_att("str", "name", f"racingline {i + 1}")}{_att("str", "team", "racingline")}'
        f'{_att("str", "author", "racingline")}{_att("str", "car name", car)}{_att("num", "race number", i + 1)}</section>'
        for i in range(n))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<params name="{ROBOT_MODULE}" type="robotdef">
  <section name="Robots">
    <section name="index">
{rows}
    </section>
  </section>
</params>
"""


def engine_xml() -> str:
    """The race engine's config (``config/raceengine.xml`` of a local folder): TORCS's standard modules."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<params name="" type="template" mode="mw">
  <section name="Modules">
    {_att("str", "track", "track")}{_att("str", "simu", "simuv2")}{_att("str", "graphic", "ssggraph")}
  </section>
</params>
"""


def write_local_dir(local: Path, car: str = DEFAULT_CAR) -> Path:
    """Make ``local`` a TORCS local folder (``-l``): the engine config and racingline's robot XML."""
    (local / "config").mkdir(parents=True, exist_ok=True)
    (local / "drivers" / ROBOT_MODULE).mkdir(parents=True, exist_ok=True)
    (local / "config" / "raceengine.xml").write_text(engine_xml(), encoding="utf-8")
    (local / "drivers" / ROBOT_MODULE / f"{ROBOT_MODULE}.xml").write_text(robot_xml(car), encoding="utf-8")
    return local


# ---------------------------------------------------------------------------------------------- robot races
@dataclass(frozen=True)
class RobotResult:
    """A shipped robot's race: laps done, race time and best lap time (seconds), damage, finishing rank."""

    robot: str
    name: str
    rank: int
    laps: int
    time_s: float
    best_lap_s: float
    damage: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return dict(self.__dict__)


def torcs_env(install: TorcsInstall, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a TORCS process (its shared libraries on ``LD_LIBRARY_PATH``)."""
    env = dict(os.environ)
    libs = str(install.shared_lib_dir)
    env["LD_LIBRARY_PATH"] = libs + (os.pathsep + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    env.update(extra or {})
    return env


def race_robots(install: TorcsInstall, lib_dir: Path, track: str, robots: list[str], laps: int = 1,
                timeout_s: float = 300.0) -> list[RobotResult]:
    """Race shipped robots alone on ``track`` in results-only mode and return their results in rank order.

    ``lib_dir``: the library folder TORCS loads robots from (:func:`racingline.torcs.setup.lib_dir`, or
    TORCS's own). Each call uses its own temporary local folder. Raises :class:`TorcsError` for an unknown
    track or robot, or a race that writes no results.
    """
    track = resolve_track(install, track)
    specs: list[RobotSpec] = [resolve_robot(install, r) for r in robots]
    if not specs:
        raise TorcsError("race_robots: no robots given")
    from racingline.torcs.process import die_with_parent

    with tempfile.TemporaryDirectory(prefix="racingline-torcs-race-") as tmp:
        local = write_local_dir(Path(tmp) / "local")
        race = Path(tmp) / "race.xml"
        race.write_text(race_xml(track, [(s.module, s.index) for s in specs], laps), encoding="utf-8")
        cmd = [str(install.binary), "-l", str(local), "-L", str(lib_dir), "-D", str(install.data_dir), "-r", str(race)]
        try:
            done = subprocess.run(cmd, cwd=install.data_dir, env=torcs_env(install), capture_output=True,
                                  timeout=timeout_s, preexec_fn=die_with_parent(os.getpid()))
        except subprocess.TimeoutExpired:
            raise TorcsError(f"{track}: the robots' race did not end within {timeout_s:g} s") from None
        files = sorted(glob.glob(str(local / "results" / "*" / "results-*.xml")))
        if not files:
            tail = (done.stdout + done.stderr).decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise TorcsError(f"{track}: TORCS wrote no race results (exit {done.returncode}: {tail[0]})")
        return _parse_results(Path(files[-1]), specs)


def _parse_results(path: Path, specs: list[RobotSpec]) -> list[RobotResult]:
    root = ET.parse(path).getroot()
    out = []
    for rank_section in root.iter("section"):
        if rank_section.get("name") != "Rank":
            continue
        for row in rank_section.findall("section"):
            vals = {a.get("name"): a.get("val") for a in row}
            module, idx = vals.get("module", ""), int(float(vals.get("idx", "0")))
            out.append(RobotResult(robot=f"{module}:{idx}", name=vals.get("name", ""), rank=int(row.get("name", "0")),
                                   laps=int(float(vals.get("laps", "0"))), time_s=float(vals.get("time", "nan")),
                                   best_lap_s=float(vals.get("best lap time", "nan")),
                                   damage=float(vals.get("dammages", "0"))))
    return out
