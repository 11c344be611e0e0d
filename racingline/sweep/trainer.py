"""The process a sweep trial trains in: ``python -m racingline.sweep.trainer PARENT_PID train ARGS...`` runs
``racingline train ARGS...`` and gets SIGTERM (so it saves its model and stops) when the thread of the Ray
worker that started it, PARENT_PID, goes away; it exits at once if that worker is already gone.

``racingline train`` handles SIGTERM like Ctrl-C: it saves ``model.zip``, its statistics and a checkpoint,
then exits 143, so a trial stopped early, or a sweep interrupted, leaves a run folder that ``racingline
eval`` reads and ``racingline train --resume`` continues.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

__all__ = ["main", "die_with_parent"]

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, sig: int = signal.SIGTERM) -> None:
    """Have ``sig`` sent to this process when its parent goes (Linux: ``PR_SET_PDEATHSIG``; elsewhere a
    thread polls the parent); exit at once when the parent ``parent_pid`` is already gone."""
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if not armed:
        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(0.5)
            os.kill(os.getpid(), sig)

        threading.Thread(target=watch, name="racingline-sweep-parent-watch", daemon=True).start()
    if os.getppid() != parent_pid:
        sys.exit(128 + int(sig))


def main(argv: list[str] | None = None) -> None:
    """Arm the parent-death signal, then run the ``racingline`` command line with the remaining arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or not args[0].isdigit():
        sys.exit("usage: python -m racingline.sweep.trainer PARENT_PID train ARGS...")
    die_with_parent(int(args[0]))
    from racingline.cli import main as cli_main

    sys.argv = ["racingline", *args[1:]]
    cli_main()


if __name__ == "__main__":
    main()
