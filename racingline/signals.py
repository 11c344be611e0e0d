"""Signals: Ctrl-C and SIGTERM stop work cleanly, and worker processes never outlive their parent.

- :class:`StopSignals`: while active, the first SIGINT or SIGTERM sets a stop event (work ends at the
  next safe point and saves what exists); a second one raises :class:`Interrupted` at once.
- :func:`blocked` blocks SIGINT and SIGTERM while worker processes are created, so a signal that arrives
  then is neither lost by this process nor delivered to a half-started worker: it is delivered here
  once the workers exist.
- :func:`worker_setup` (first thing in a worker) ignores SIGINT (Ctrl-C is the parent's to handle),
  asks Linux to kill the worker when its parent dies (``PR_SET_PDEATHSIG``; elsewhere a watchdog thread
  polls the parent), then unblocks the signals.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Interrupted", "StopSignals", "blocked", "raising", "worker_setup", "exit_code", "STOP_SIGNALS"]

#: The signals that stop training (and other long work) cleanly.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_PR_SET_PDEATHSIG = 1


class Interrupted(BaseException):
    """Work stopped by a signal; ``signum`` says which (SIGINT or SIGTERM).

    Not a ``KeyboardInterrupt``: libraries that turn Ctrl-C into their own exit (Typer's is a silent
    exit 130) let it through, so the CLI reports which signal stopped what, with exit code 128 + signum.
    """

    def __init__(self, signum: int = signal.SIGINT, message: str = "") -> None:
        super().__init__(message or f"stopped by {signal.Signals(signum).name}")
        self.signum = int(signum)


def exit_code(signum: int) -> int:
    """The shell's exit code for a process stopped by ``signum`` (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + int(signum)


class StopSignals:
    """SIGINT/SIGTERM handlers for the main thread: the first signal sets ``stop``, a second raises.

    Usable as a context manager (handlers restored on exit). ``signum`` is the first signal received.
    Outside the main thread it does nothing (Python delivers signals to the main thread only).
    """

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = stop if stop is not None else threading.Event()
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.stop.is_set():
            raise Interrupted(self.signum or signum)
        self.signum = signum
        self.stop.set()

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def ignore(self) -> None:
        """Drop SIGINT/SIGTERM from now until the context exits (while the final save runs)."""
        if self._previous:
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_IGN)

    def __exit__(self, *exc: Any) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def raising() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` (with the signal's number) in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise_interrupted) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def blocked(signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[None]:
    """Block ``signals`` in this thread (they stay pending and are delivered when unblocked)."""
    if not hasattr(signal, "pthread_sigmask"):  # not POSIX
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _set_parent_death_signal(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int, interval_s: float = 0.5) -> None:
    def watch() -> None:
        while True:
            time.sleep(interval_s)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="racingline-parent-watch", daemon=True).start()


def worker_setup(parent_pid: int) -> None:
    """Run first in a worker process: ignore Ctrl-C, die with the parent, then unblock signals."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if not _set_parent_death_signal(signal.SIGKILL):
        _watch_parent(parent_pid)
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def guarded_target(target: Callable[..., None], parent_pid: int, *args: Any) -> None:
    """A worker's entry point: :func:`worker_setup`, then ``target(*args)``; a dead pipe ends it quietly."""
    worker_setup(parent_pid)
    with contextlib.suppress(EOFError, BrokenPipeError, ConnectionResetError, KeyboardInterrupt, Interrupted):
        target(*args)
