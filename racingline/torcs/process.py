"""One TORCS process and its SCR client: a private folder, a UDP port, lock-step messages, a sure end.

Each :class:`TorcsProcess` runs ``torcs-bin`` in a folder of its own (``-l``: the engine config,
racingline's robot XML, the race file, results, a log), so parallel instances share nothing writable.
The process is started in its own session (a terminal's Ctrl-C goes to the trainer, not to TORCS) and is
killed by Linux when the process that started it dies (``PR_SET_PDEATHSIG``, as :mod:`racingline.signals`
does for workers); :meth:`TorcsProcess.close` kills it and removes its folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from racingline.torcs.install import TorcsError, TorcsInstall
from racingline.torcs.race import DEFAULT_CAR, race_xml, torcs_env, write_local_dir

__all__ = ["TorcsProcess", "PortInUse", "die_with_parent", "free_port", "check_port", "parse_message",
           "DEFAULT_ANGLES_DEG", "FOLDER_PREFIX"]

#: The range-finders' angles (degrees, -90 = left, 90 = right): gym_torcs's fan, denser ahead.
DEFAULT_ANGLES_DEG: tuple[float, ...] = (-90, -75, -60, -45, -30, -20, -15, -10, -5, 0, 5, 10, 15, 20, 30, 45, 60,
                                          75, 90)
#: Prefix of the private folders (in the temporary folder); the owner's pid follows it.
FOLDER_PREFIX = "racingline-torcs-"
_PR_SET_PDEATHSIG = 1
_PORT_IN_USE_EXIT = 4  # the robot's exit code when it cannot bind its port


class PortInUse(TorcsError):
    """The UDP port racingline's robot should listen on is taken."""


def die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A ``preexec_fn`` for a child that must not outlive ``parent_pid``: SIGKILL when the parent dies."""

    def preexec() -> None:
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError, AttributeError):
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
                libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before the death signal was armed
            os._exit(1)

    return preexec


def free_port() -> int:
    """A UDP port on 127.0.0.1 that is free now (the system picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_port(port: int) -> int:
    """``port`` if it is a free UDP port on 127.0.0.1, else :class:`PortInUse` (one line)."""
    if not 1 <= int(port) <= 65535:
        raise TorcsError(f"port {port}: must be 1-65535")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", int(port)))
        except OSError:
            raise PortInUse(f"port {port}: UDP port already in use on 127.0.0.1; choose another (or none: a free "
                            "one is picked)") from None
    return int(port)


def parse_message(text: str) -> dict[str, str]:
    """An SCR sensor message ``(angle 0.1)(track 1 2 ...)...`` as ``{name: "values"}`` (numbers unparsed:
    ``float(m["angle"])``, ``[float(v) for v in m["track"].split()]``)."""
    out: dict[str, str] = {}
    for part in text.strip()[1:-1].split(")("):
        name, _, values = part.partition(" ")
        out[name] = values
    return out


def _clean_stale_folders(base: Path) -> None:
    """Remove private folders left by processes that were killed (their owner pid is gone)."""
    for folder in base.glob(f"{FOLDER_PREFIX}*"):
        try:
            pid = int(folder.name[len(FOLDER_PREFIX):].split("-", 1)[0])
        except ValueError:
            continue
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass


class TorcsProcess:
    """A TORCS race with racingline's robot as driver 1, started at once, connected by :meth:`connect`.

    Args:
        install: the TORCS to run. lib_dir: the library folder holding racingline's robot (setup's).
        track: ``category/name``. opponents: ``(module, index)`` of shipped robots after racingline's car
        (``start`` places racingline's car on the grid). laps: race laps. car: racingline's car.
        port: the robot's UDP port (None: a free one). timeout_s: the robot exits when the client is
        silent this long during the race. gui: TORCS's window in ``DISPLAY`` instead of a results-only race
        (:mod:`racingline.torcs.gui`).
    """

    def __init__(self, install: TorcsInstall, lib_dir: Path, track: str, *, laps: int = 2,
                 opponents: tuple[tuple[str, int], ...] = (), start: int = 0, car: str = DEFAULT_CAR,
                 port: int | None = None, timeout_s: float = 60.0, angles_deg: tuple[float, ...] = DEFAULT_ANGLES_DEG,
                 gui: bool = False) -> None:
        self.install = install
        self.track = track
        self._owner = os.getpid()  # a forked copy of this object must not kill the owner's TORCS
        self.port = check_port(port) if port is not None else free_port()
        self.explicit_port = port is not None
        self.angles_deg = tuple(angles_deg)
        self.sock: socket.socket | None = None
        self.proc: subprocess.Popen | None = None
        self._keys = None
        base = Path(tempfile.gettempdir())
        _clean_stale_folders(base)
        self.folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-", dir=base))
        self.log_path = self.folder / "torcs.log"
        self._log = open(self.log_path, "wb")
        try:
            local = write_local_dir(self.folder / "local", car)
            drivers = list(opponents)
            drivers.insert(int(start), ("racingline", 0))
            self.race_file = self.folder / "race.xml"
            self.race_file.write_text(race_xml(track, drivers, laps, results_only=not gui), encoding="utf-8")
            if gui:
                from racingline.torcs.gui import KeyPresser, prepare_gui_local

                prepare_gui_local(install, local, self.race_file.read_text(encoding="utf-8"))
                self._keys = KeyPresser()
        except BaseException:
            self.close()
            raise
        cmd = [str(install.binary), "-l", str(local), "-L", str(lib_dir), "-D", str(install.data_dir)]
        if not gui:
            cmd += ["-r", str(self.race_file)]
        env = torcs_env(install, {"RACINGLINE_TORCS_PORT": str(self.port),
                                  "RACINGLINE_TORCS_TIMEOUT_S": f"{float(timeout_s):g}",
                                  "RACINGLINE_TORCS_START_TIMEOUT_S": "86400"})
        try:
            self.proc = subprocess.Popen(cmd, cwd=install.data_dir, env=env, stdin=subprocess.DEVNULL,
                                         stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=die_with_parent(os.getpid()))
        except OSError as exc:
            self.close()
            raise TorcsError(f"{install.binary}: cannot start TORCS ({exc.strerror or exc})") from None

    # ------------------------------------------------------------------ lifetime
    def alive(self) -> bool:
        """Whether the TORCS process still runs."""
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self) -> str:
        """The last non-empty line TORCS printed (for error messages)."""
        try:
            lines = self.log_path.read_bytes().decode(errors="replace").strip().splitlines()
        except OSError:
            return ""
        lines = [ln.strip() for ln in lines if ln.strip()]
        return lines[-1] if lines else ""

    def _exit_error(self) -> TorcsError:
        code = self.proc.returncode if self.proc is not None else None
        if code == _PORT_IN_USE_EXIT:
            return PortInUse(f"port {self.port}: UDP port already in use on 127.0.0.1; choose another (or none: a "
                             "free one is picked)")
        tail = self.log_tail()
        return TorcsError(f"TORCS exited (code {code}) before the race started on {self.track}"
                          + (f": {tail}" if tail else ""))

    def close(self) -> None:
        """Kill TORCS (if running), close the socket and remove the private folder. Safe to call twice; in a
        forked copy of the owner process it only drops this copy's socket."""
        if os.getpid() != self._owner:
            if self.sock is not None:
                self.sock.close()
                self.sock = None
            return
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if not self._log.closed:
            self._log.close()
        if self._keys is not None:
            self._keys.close()
            self._keys = None
        shutil.rmtree(self.folder, ignore_errors=True)

    # ------------------------------------------------------------------ messages
    def connect(self, timeout_s: float = 60.0) -> None:
        """Identify to the robot (SCR ``init`` with the range-finder angles) once TORCS has loaded the race.

        Raises :class:`PortInUse` when the robot could not take its port, :class:`TorcsError` when TORCS
        exits first (with its last output line) or does not answer within ``timeout_s``.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.connect(("127.0.0.1", self.port))
        sock.settimeout(0.02)
        self.sock = sock
        init = ("racingline(init " + " ".join(f"{a:g}" for a in self.angles_deg) + ")").encode()
        deadline = time.monotonic() + timeout_s
        next_key = time.monotonic() + 1.0
        while True:
            if self._keys is not None and time.monotonic() > next_key:  # the GUI's menus: Race, the race, New Race
                self._keys.press_return()
                next_key = time.monotonic() + 0.7
            with contextlib.suppress(ConnectionRefusedError):
                sock.send(init)
            try:
                if sock.recv(4096).startswith(b"***identified***"):
                    return
            except (TimeoutError, ConnectionRefusedError):
                pass
            if not self.alive():
                raise self._exit_error()
            if time.monotonic() > deadline:
                raise TorcsError(f"TORCS did not start the race on {self.track} within {timeout_s:g} s")

    def receive(self, timeout_s: float = 60.0) -> str | None:
        """The robot's next message (its sensors, or ``***shutdown***``), or None once TORCS has exited."""
        sock = self.sock
        assert sock is not None, "connect() first"
        deadline = time.monotonic() + timeout_s
        sock.settimeout(0.5)
        while True:
            try:
                return sock.recv(8192).decode()
            except (TimeoutError, ConnectionRefusedError):
                if not self.alive():
                    return None
                if time.monotonic() > deadline:
                    raise TorcsError(f"TORCS sent nothing for {timeout_s:g} s on {self.track}") from None

    def send(self, text: str) -> None:
        """Send the client's reply (the action) to the robot."""
        assert self.sock is not None, "connect() first"
        with contextlib.suppress(ConnectionRefusedError):
            self.sock.send(text.encode())
