"""TORCS's own window (``TorcsEnv(render_mode="human")``): a race started in the GUI with no one at the keys.

TORCS's GUI has no command-line race start, so the private local folder gets TORCS's stock GUI settings
(its ``setup_linux.sh``, sound off) and the race in place of the Quick Race, the first race manager; once the window is up,
:class:`KeyPresser` presses Return (X11's XTest extension, through ctypes) until racingline's robot
answers: main menu "Race", the race, "New Race". Needs a display (``DISPLAY``; ``xvfb-run`` without a screen).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import subprocess
from pathlib import Path

from racingline.torcs.install import TorcsError, TorcsInstall

__all__ = ["prepare_gui_local", "KeyPresser"]

_RETURN_KEYSYM = 0xFF0D


def prepare_gui_local(install: TorcsInstall, local: Path, race_xml: str) -> None:
    """Make ``local`` a TORCS GUI local folder whose first race manager is ``race_xml``."""
    if not os.environ.get("DISPLAY"):
        raise TorcsError("render_mode='human' shows TORCS's window and needs a display: set DISPLAY, or run under "
                         "xvfb-run")
    script = install.lib_dir / "setup_linux.sh"
    done = subprocess.run(["bash", str(script), str(local)], cwd=install.data_dir, capture_output=True, text=True)
    if done.returncode != 0:
        raise TorcsError(f"{script}: could not prepare TORCS's GUI settings in {local}")
    sound = local / "config" / "sound.xml"
    if sound.is_file():
        sound.write_text(re.sub(r'(name="state"\s+val=")[^"]*"', r'\1disabled"', sound.read_text()))
    (local / "config" / "raceman" / "quickrace.xml").write_text(race_xml, encoding="utf-8")


class KeyPresser:
    """Presses Return in the X display of ``DISPLAY`` (XTest). Raises :class:`TorcsError` when it cannot."""

    def __init__(self) -> None:
        try:
            self.x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
            self.xtst = ctypes.CDLL(ctypes.util.find_library("Xtst") or "libXtst.so.6")
        except OSError:
            raise TorcsError("render_mode='human' needs X11's XTest library to start the race: apt-get install -y "
                             "libxtst6") from None
        self.x11.XOpenDisplay.restype = ctypes.c_void_p
        self.x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self.x11.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        self.x11.XFlush.argtypes = [ctypes.c_void_p]
        self.x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self.xtst.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
        self.display = self.x11.XOpenDisplay(None)
        if not self.display:
            raise TorcsError(f"render_mode='human': cannot open the display {os.environ.get('DISPLAY')!r}")
        self.code = self.x11.XKeysymToKeycode(self.display, _RETURN_KEYSYM)

    def press_return(self) -> None:
        """One press and release of Return."""
        for down in (1, 0):
            self.xtst.XTestFakeKeyEvent(self.display, self.code, down, 0)
        self.x11.XFlush(self.display)

    def close(self) -> None:
        """Let go of the display."""
        if self.display:
            self.x11.XCloseDisplay(self.display)
            self.display = None
