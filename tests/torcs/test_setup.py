"""racingline torcs setup: the robot module builds (and is not rebuilt), compiler errors are one line, and the
deb-src lines come from the machine's deb lines."""

from __future__ import annotations

import shutil

import pytest

from racingline.torcs import setup as torcs_setup
from racingline.torcs.install import TorcsError

from torcs_helpers import USER_CACHE


@pytest.fixture
def fresh_cache(torcs, tmp_path, monkeypatch):
    """An empty cache holding only the headers of the user's cache."""
    if not (USER_CACHE / "include" / "robot.h").is_file():
        pytest.skip("no TORCS headers in the cache (racingline torcs setup)")
    cache = tmp_path / "cache"
    shutil.copytree(USER_CACHE / "include", cache / "include")
    monkeypatch.setenv("RACINGLINE_TORCS_CACHE", str(cache))
    return cache


def test_the_robot_module_builds_once(torcs, fresh_cache):
    with pytest.raises(TorcsError, match="torcs setup"):
        torcs_setup.ready_lib_dir(torcs)
    lib = torcs_setup.build_robot(torcs, log=lambda _: None)
    assert lib == fresh_cache / "lib" / "drivers" / "racingline" / "racingline.so"
    assert lib.read_bytes()[:4] == b"\x7fELF"
    assert (fresh_cache / "lib" / "drivers" / "bt").resolve() == torcs.lib_dir / "drivers" / "bt"
    assert torcs_setup.ready_lib_dir(torcs) == fresh_cache / "lib"
    built = lib.stat().st_mtime_ns
    said = []
    torcs_setup.build_robot(torcs, log=said.append)  # same source, same TORCS: nothing to do
    assert lib.stat().st_mtime_ns == built and said == []
    torcs_setup.build_robot(torcs, force=True, log=said.append)
    assert said and lib.stat().st_mtime_ns != built


def test_a_compiler_error_is_one_line(torcs, fresh_cache, tmp_path, monkeypatch):
    broken = tmp_path / "racingline.cpp"
    broken.write_text("#include <robot.h>\nint racingline( {\n")
    monkeypatch.setattr(torcs_setup, "robot_source", lambda: broken)
    with pytest.raises(TorcsError) as err:
        torcs_setup.build_robot(torcs, log=lambda _: None)
    message = str(err.value)
    assert message.startswith("compiling racingline's TORCS robot failed: ") and "\n" not in message
    assert not list((fresh_cache / "lib" / "drivers" / "racingline").iterdir())  # nothing half-written


def test_deb_src_lines_come_from_both_source_formats(tmp_path, monkeypatch):
    one_line = tmp_path / "sources.list"
    one_line.write_text("# comment\ndeb [signed-by=/k.gpg] http://deb.example/debian bookworm main contrib\n"
                        "deb-src http://deb.example/debian bookworm main\n")
    deb822 = tmp_path / "debian.sources"
    deb822.write_text("Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
                      "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
                      "Types: deb\nURIs: http://off.example/debian\nSuites: sid\nComponents: main\nEnabled: no\n")
    monkeypatch.setattr(torcs_setup, "_SOURCES_FILES", (str(one_line) + ".list", str(deb822)))
    one_line.rename(str(one_line) + ".list")
    entries = torcs_setup._deb_entries()
    assert entries == [
        ("http://deb.example/debian", "bookworm", "main contrib", "/k.gpg"),
        ("http://mirror.example/debian", "bookworm", "main", "/usr/share/keyrings/debian-archive-keyring.gpg"),
        ("http://mirror.example/debian", "bookworm-updates", "main", "/usr/share/keyrings/debian-archive-keyring.gpg"),
    ]


def test_setup_names_the_missing_packages(monkeypatch):
    monkeypatch.setattr(torcs_setup, "missing_packages", lambda: ["libplib-dev", "g++"])
    with pytest.raises(TorcsError) as err:
        torcs_setup.setup(log=lambda _: None)
    assert "apt-get install -y libplib-dev g++" in str(err.value)
