"""Fixtures of the sweep tests: real ``racingline`` processes on a real local Ray, each tagged so the test can
check that no Ray process (raylet, GCS, worker) nor trainer outlives its command."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

MARK = "RACINGLINE_TEST_MARK"


def marked_processes(mark: str) -> list[tuple[int, str]]:
    """(pid, command line) of live processes whose environment holds ``RACINGLINE_TEST_MARK=<mark>`` (Ray's
    processes and the sweep's trainers inherit the environment of the command that started them)."""
    found = []
    needle = f"{MARK}={mark}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_text()
            if stat[stat.rindex(")") + 2] == "Z":
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            found.append((int(entry.name), cmdline))
        except OSError:
            continue
    return found


def wait_until_none_left(mark: str, timeout_s: float = 20.0) -> list[tuple[int, str]]:
    """Marked processes still alive after ``timeout_s`` (empty when all ended)."""
    deadline = time.monotonic() + timeout_s
    left = marked_processes(mark)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = marked_processes(mark)
    return left


class Command:
    """Runs ``racingline ...`` as a real process in a folder, its environment tagged with a fresh mark."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.mark = uuid.uuid4().hex
        self.env = {**os.environ, MARK: self.mark, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy",
                    "MPLBACKEND": "Agg", "COLUMNS": "200", "XDG_CACHE_HOME": str(folder / ".cache")}
        self.env.pop("RAY_ADDRESS", None)

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "racingline.cli", *map(str, args)], cwd=self.folder,
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL, start_new_session=True)

    def run(self, *args: str, timeout_s: float = 300.0) -> subprocess.CompletedProcess:
        proc = self.start(*args)
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"racingline {' '.join(args)} did not end in {timeout_s} s\n{out[-3000:]}\n{err[-3000:]}")
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def left_behind(self) -> list[tuple[int, str]]:
        return wait_until_none_left(self.mark)


@pytest.fixture
def command(tmp_path) -> Command:
    """A :class:`Command` in the test's folder; the test fails if a tagged process outlives it."""
    cmd = Command(tmp_path)
    yield cmd
    left = wait_until_none_left(cmd.mark, timeout_s=5.0)
    for pid, _ in left:  # a failed test's processes go too
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind: {left}"
