"""``racingline torcs setup``: TORCS's headers into the user cache, racingline's robot built and verified.

Debian ships TORCS without development headers, so they come from Debian's source package of the
installed version: ``apt-get source --download-only torcs=VERSION`` with a private apt state in the cache
(``deb-src`` lines made from the machine's own ``deb`` lines; the system's apt config is not touched, root is
not needed), unpacking only the ~20 headers a robot includes (~180 KB) and deleting the rest. The robot
(``robot/racingline.cpp``, ~400 lines of this project's C++) is compiled against them into
``lib/drivers/racingline/racingline.so`` beside links to TORCS's own robots and modules, the library folder
TORCS runs with (``-L``). A one-lap race with a scripted driver verifies it. Everything is skipped when
already done (``force`` redoes it). Cache layout (:func:`racingline.torcs.install.cache_dir`)::

    include/            the headers (+ .version: the TORCS version they came from)
    lib/                drivers/<TORCS's robots, linked>, drivers/racingline/racingline.so, modules -> TORCS's
    build.json          what the module was built from (TORCS version, source hash, compiler)
    tracks/             track shapes read from TORCS (racingline.torcs.tracks)
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from racingline.torcs.install import (
    APT_PACKAGES,
    ROBOT_MODULE,
    TorcsError,
    TorcsInstall,
    TorcsMissing,
    cache_dir,
    find_torcs,
    install_hint,
)

__all__ = ["SetupReport", "setup", "doctor", "ready_lib_dir", "missing_packages", "robot_source", "lib_dir",
           "fetch_headers", "build_robot", "verify", "HEADERS"]

#: The headers a robot needs, as (path in TORCS's source tree, path under ``include/``).
HEADERS: tuple[tuple[str, str], ...] = (
    *((f"src/interfaces/{n}.h", f"{n}.h") for n in
      ("car", "graphic", "playerpref", "raceman", "replay", "robot", "simu", "telemetry", "track")),
    ("src/libs/tgf/tgf.h", "tgf.h"), ("src/linux/osspec.h", "osspec.h"),
    ("src/libs/robottools/robottools.h", "robottools.h"), ("src/libs/portability/portability.h", "portability.h"),
    *((f"src/libs/math/{n}.h", f"tmath/{n}.h") for n in ("linalg_t", "straight2_t", "v2_t", "v3_t", "v4_t")),
)
_SOURCES_FILES = ("/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*")))
Log = Callable[[str], None]


def robot_source() -> Path:
    """racingline's robot source (package data)."""
    return Path(str(files("racingline.torcs").joinpath("robot", "racingline.cpp")))


def lib_dir() -> Path:
    """The library folder TORCS runs with (``-L``): TORCS's robots and modules, and racingline's robot."""
    return cache_dir() / "lib"


def _robot_library() -> Path:
    return lib_dir() / "drivers" / ROBOT_MODULE / f"{ROBOT_MODULE}.so"


def _torcs_version(field: str = "Version") -> str | None:
    """The installed Debian package version of TORCS (``1.3.7+dfsg-5+b2``; ``field="source:Version"``: the
    version of its source package, ``1.3.7+dfsg-5``), or None without dpkg."""
    try:
        done = subprocess.run(["dpkg-query", "-W", f"-f=${{{field}}}", "torcs"], capture_output=True, text=True)
    except OSError:
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def missing_packages() -> list[str]:
    """The packages of :data:`racingline.torcs.install.APT_PACKAGES` that are not installed."""
    missing = []
    try:
        find_torcs()
    except TorcsMissing:
        missing.append("torcs")
    if not Path("/usr/include/plib/sg.h").is_file():
        missing.append("libplib-dev")
    if shutil.which("g++") is None:
        missing.append("g++")
    return [p for p in APT_PACKAGES if p in missing]


def _build_stamp(install: TorcsInstall) -> dict[str, str]:
    source = robot_source().read_bytes()
    return {"torcs": _torcs_version() or str(install.binary), "source_sha256": hashlib.sha256(source).hexdigest()}


def ready_lib_dir(install: TorcsInstall) -> Path:
    """:func:`lib_dir` when racingline's robot is built for this TORCS and source, else :class:`TorcsError`
    saying to run ``racingline torcs setup``."""
    stamp_path = cache_dir() / "build.json"
    if not _robot_library().is_file() or not stamp_path.is_file():
        raise TorcsError("racingline's TORCS robot is not built; run: racingline torcs setup")
    try:
        stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stamp = {}
    want = _build_stamp(install)
    if any(stamp.get(k) != v for k, v in want.items()):
        raise TorcsError("racingline's TORCS robot was built for another TORCS or robot source; run: racingline "
                         "torcs setup")
    return lib_dir()


# ---------------------------------------------------------------------------------------------- headers
def _have_headers(include: Path) -> bool:
    return all((include / dest).is_file() for _, dest in HEADERS)


def _deb_entries() -> list[tuple[str, str, str, str]]:
    """``(uri, suite, components, signed_by)`` of the machine's ``deb`` lines (one-line and deb822 files)."""
    out = []
    for name in _SOURCES_FILES:
        path = Path(name)
        if not path.is_file() or not (name.endswith((".list", ".sources")) or name == "/etc/apt/sources.list"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if name.endswith(".sources"):
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if line.strip().startswith("#") or ":" not in line:
                        continue
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.strip()
                if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
                    continue
                for uri in fields.get("uris", "").split():
                    for suite in fields.get("suites", "").split():
                        out.append((uri, suite, fields.get("components", ""), fields.get("signed-by", "")))
        else:
            for line in text.splitlines():
                m = re.match(r"^\s*deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s*(.*)$", line)
                if m:
                    opts = m.group(1) or ""
                    signed = re.search(r"signed-by=(\S+?)\]?(\s|$)", opts)
                    out.append((m.group(2), m.group(3), m.group(4).strip(), signed.group(1) if signed else ""))
    return out


def _apt(args: list[str], apt_dir: Path, cwd: Path, what: str) -> None:
    opts = ["-o", f"Dir::Etc::SourceList={apt_dir / 'sources.list'}", "-o", f"Dir::Etc::SourceParts={apt_dir / 'parts'}",
            "-o", f"Dir::State::Lists={apt_dir / 'lists'}", "-o", f"Dir::Cache={apt_dir / 'cache'}",
            "-o", "Debug::NoLocking=1", "-q"]
    if os.geteuid() == 0:  # the download sandbox user cannot write into a root's cache
        opts += ["-o", "APT::Sandbox::User=root"]
    try:
        done = subprocess.run(["apt-get", *opts, *args], cwd=cwd, capture_output=True, text=True)
    except OSError:
        raise TorcsError("apt-get is not available: TORCS's headers come from Debian's source package "
                         "(or give a TORCS source tree: racingline torcs setup --source DIR)") from None
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr or done.stdout).strip().splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("E:")] or lines[-1:] or ["no output"]
        raise TorcsError(f"{what} failed: {errors[0]}")


def _fetch_source(work: Path, version: str, log: Log) -> Path:
    """Download Debian's torcs source package ``version`` into ``work``; returns the ``.orig`` tarball."""
    entries = _deb_entries()
    if not entries:
        raise TorcsError("no Debian package sources (deb lines) in /etc/apt/sources.list(.d); TORCS's headers come "
                         "from its source package: add your Debian mirror there, or give a TORCS source tree with "
                         "--source DIR")
    apt_dir = cache_dir() / "apt"
    for sub in ("lists/partial", "cache/archives/partial", "parts"):
        (apt_dir / sub).mkdir(parents=True, exist_ok=True)
    lines = [f"deb-src {f'[signed-by={signed}] ' if signed else ''}{uri} {suite} {comps}".strip()
             for uri, suite, comps, signed in dict.fromkeys(entries)]
    (apt_dir / "sources.list").write_text("\n".join(lines) + "\n", encoding="utf-8")
    log(f"reading Debian's source index ({len(lines)} deb-src lines, private apt state in {apt_dir})")
    _apt(["update"], apt_dir, work, "apt-get update (deb-src lines made from the machine's deb lines)")
    log(f"downloading Debian's torcs {version} source package (~400 MB, once)")
    _apt(["source", "--download-only", f"torcs={version}"], apt_dir, work, f"apt-get source torcs={version}")
    tarballs = sorted(work.glob("torcs_*.orig.tar.*"))
    if not tarballs:
        raise TorcsError(f"apt-get source torcs={version} left no .orig tarball in {work}")
    return tarballs[0]


def _copy_headers(root: Path, include: Path) -> None:
    """Copy :data:`HEADERS` from a TORCS source tree ``root`` (holding ``src/``) into ``include``."""
    for src, _ in HEADERS:
        if not (root / src).is_file():
            raise TorcsError(f"{root}: not a TORCS source tree (no {src})")
    for src, dest in HEADERS:
        (include / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / src, include / dest)


def _unpack_headers(tarball: Path, work: Path) -> Path:
    """Unpack only :data:`HEADERS` of a TORCS source tarball into ``work``; returns the tree's root."""
    members = [f"*/{src}" for src, _ in HEADERS]
    done = subprocess.run(["tar", "-xf", str(tarball), "-C", str(work), "--wildcards", *members],
                          capture_output=True, text=True)
    roots = [p.parent for p in work.glob("*/src") if p.is_dir()]
    if done.returncode != 0 or not roots:
        first = (done.stderr.strip().splitlines() or ["no output"])[0]
        raise TorcsError(f"{tarball.name}: could not unpack TORCS's headers ({first})")
    return roots[0]


def fetch_headers(install: TorcsInstall, *, force: bool = False, source: str | os.PathLike | None = None,
                  log: Log = print) -> Path:
    """TORCS's headers in ``include/`` of the cache (fetched once; ``force`` fetches again).

    ``source``: a TORCS source tree (holding ``src/``) or a source tarball to take them from instead of
    Debian's source package. Raises :class:`TorcsError` (one line) when they cannot be had.
    """
    include = cache_dir() / "include"
    version = _torcs_version()
    if not force and source is None and _have_headers(include):
        return include
    cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="headers-", dir=cache_dir()) as tmp:
        work = Path(tmp)
        staged = work / "include"
        if source is not None:
            src = Path(source).expanduser()
            if src.is_dir():
                _copy_headers(src, staged)
            elif src.is_file():
                _copy_headers(_unpack_headers(src, work), staged)
            else:
                raise TorcsError(f"--source {source}: no such TORCS source tree or tarball")
        else:
            if version is None:
                raise TorcsError("the installed TORCS is not a Debian package (no dpkg record): give its source tree "
                                 "with: racingline torcs setup --source DIR")
            tarball = _fetch_source(work, _torcs_version("source:Version") or version, log)
            log(f"unpacking {len(HEADERS)} headers from {tarball.name}")
            root = _unpack_headers(tarball, work)
            tarball.unlink()
            _copy_headers(root, staged)
            shutil.rmtree(cache_dir() / "apt", ignore_errors=True)  # the source index is not needed again
        (staged / ".version").write_text((version or str(source)) + "\n", encoding="utf-8")
        shutil.rmtree(include, ignore_errors=True)
        os.replace(staged, include)
    return include


# ---------------------------------------------------------------------------------------------- build
def _link_lib_dir(install: TorcsInstall) -> Path:
    """``lib/``: links to TORCS's robots and modules, and a folder for racingline's robot."""
    lib = lib_dir()
    drivers = lib / "drivers"
    drivers.mkdir(parents=True, exist_ok=True)
    (drivers / ROBOT_MODULE).mkdir(exist_ok=True)
    for d in (install.lib_dir / "drivers").iterdir():
        if d.name == ROBOT_MODULE:
            continue
        link = drivers / d.name
        if link.is_symlink() and Path(os.readlink(link)) == d:
            continue
        if link.is_symlink() or link.exists():
            link.unlink() if link.is_symlink() else shutil.rmtree(link)
        link.symlink_to(d)
    modules = lib / "modules"
    if modules.is_symlink():
        modules.unlink()
    modules.symlink_to(install.lib_dir / "modules")
    return lib


def build_robot(install: TorcsInstall, *, force: bool = False, log: Log = print) -> Path:
    """Compile racingline's robot into ``lib/drivers/racingline/racingline.so`` (skipped when built from the
    same source for the same TORCS, unless ``force``). Raises :class:`TorcsError` with the compiler's first
    error line."""
    include = cache_dir() / "include"
    if not _have_headers(include):
        raise TorcsError("TORCS's headers are missing from the cache; run: racingline torcs setup")
    _link_lib_dir(install)
    target = _robot_library()
    stamp_path = cache_dir() / "build.json"
    stamp = _build_stamp(install)
    if not force and target.is_file() and stamp_path.is_file():
        try:
            if {k: v for k, v in json.loads(stamp_path.read_text(encoding="utf-8")).items() if k in stamp} == stamp:
                return target
        except ValueError:
            pass
    cxx = shutil.which("g++")
    if cxx is None:
        raise TorcsMissing(f"g++ is not installed; install it as root with: {install_hint(('g++',))}")
    part = target.with_name(f".{target.name}.{os.getpid()}.part")
    cmd = [cxx, "-O2", "-fPIC", "-shared", "-Wall", "-I", str(include), str(robot_source()),
           "-L", str(install.shared_lib_dir), "-lrobottools", "-ltgf", "-o", str(part)]
    log(f"compiling {robot_source().name} -> {target}")
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        part.unlink(missing_ok=True)
        lines = [ln for ln in done.stderr.splitlines() if "error" in ln] or done.stderr.strip().splitlines()[-1:]
        raise TorcsError(f"compiling racingline's TORCS robot failed: {(lines or ['no output'])[0].strip()}")
    os.replace(part, target)
    stamp["compiler"] = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    tmp = stamp_path.with_name(f".{stamp_path.name}.part")
    tmp.write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, stamp_path)
    return target


# ---------------------------------------------------------------------------------------------- verify
def verify(track: str = "road/g-track-1") -> float:
    """Drive one lap of ``track`` with the scripted driver through :class:`~racingline.torcs.env.TorcsEnv`;
    returns the lap time (s). Raises :class:`TorcsError` when the lap is not completed."""
    from racingline.torcs.drivers import ScriptedDriver
    from racingline.torcs.env import TorcsEnv

    env = TorcsEnv(track, laps=1, frame_skip=5, prelaunch=False)
    try:
        driver = ScriptedDriver()
        obs, info = env.reset(seed=0)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(driver(obs))
            done = terminated or truncated
    finally:
        env.close()
    if not info["lap_complete"]:
        raise TorcsError(f"verification lap on {track} not completed (progress {info['progress']:.0f}%)")
    return float(info["lap_time_s"])


@dataclass
class SetupReport:
    """What :func:`setup` found and did."""

    install: TorcsInstall
    include: Path
    library: Path
    lap_time_s: float | None


def setup(*, force: bool = False, install_packages: bool = False, source: str | os.PathLike | None = None,
          check_lap: bool = True, log: Log = print) -> SetupReport:
    """Make TORCS usable by racingline: packages, headers, robot, one verified lap (see the module docstring).

    ``install_packages``: install missing apt packages (as root) instead of only naming them.
    Raises :class:`TorcsMissing` naming the ``apt-get install`` command when packages are missing, and
    :class:`TorcsError` (one line) when a step fails.
    """
    missing = missing_packages()
    if missing and install_packages:
        if os.geteuid() != 0:
            raise TorcsMissing(f"installing {', '.join(missing)} needs root; run as root: {install_hint(missing)}")
        log(f"installing {', '.join(missing)} with apt-get")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        done = subprocess.run(["apt-get", "install", "-y", "-q", *missing], capture_output=True, text=True, env=env)
        if done.returncode != 0:
            first = ([ln for ln in done.stderr.splitlines() if ln.startswith("E:")] or ["apt-get failed"])[0]
            raise TorcsMissing(f"apt-get install {' '.join(missing)} failed: {first} (try apt-get update first)")
        missing = missing_packages()
    if missing:
        who = "" if os.geteuid() == 0 else "as root "
        raise TorcsMissing(f"missing: {', '.join(missing)}; install them {who}with: {install_hint(missing)}")
    install = find_torcs()
    include = fetch_headers(install, force=force, source=source, log=log)
    library = build_robot(install, force=force or source is not None, log=log)
    lap = verify() if check_lap else None
    return SetupReport(install=install, include=include, library=library, lap_time_s=lap)


def doctor() -> list[tuple[str, bool, str]]:
    """``(item, ok, detail)`` for each part TORCS support needs: packages, TORCS, headers, robot, cache."""
    rows: list[tuple[str, bool, str]] = []
    missing = missing_packages()
    for pkg in APT_PACKAGES:
        rows.append((f"package {pkg}", pkg not in missing, "installed" if pkg not in missing else
                     f"missing: {install_hint((pkg,))}"))
    install = None
    try:
        install = find_torcs()
        rows.append(("TORCS", True, f"{install.binary} (version {_torcs_version() or 'unknown'}), data {install.data_dir}"))
    except TorcsError as exc:
        rows.append(("TORCS", False, str(exc)))
    include = cache_dir() / "include"
    rows.append(("headers", _have_headers(include), str(include) if _have_headers(include) else
                 "not fetched: racingline torcs setup"))
    if install is not None:
        try:
            ready_lib_dir(install)
            rows.append(("robot module", True, str(_robot_library())))
        except TorcsError as exc:
            rows.append(("robot module", False, str(exc)))
    rows.append(("display", bool(os.environ.get("DISPLAY")), os.environ.get("DISPLAY") or
                 "none (results-only races need none; render_mode='human' needs one, e.g. under xvfb-run)"))
    return rows
