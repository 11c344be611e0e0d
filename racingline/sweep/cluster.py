"""Ray for racingline: the optional dependency check, and a Ray session that ends with the command.

Locally, :func:`ray_session` starts a private Ray (``ray.init(address="local")``: never a cluster that
``RAY_ADDRESS`` happens to name) with the CPUs asked for (default: the machine's), no dashboard, a small
object store (racingline moves models of a few MB and results, never data sets) and its workers at the
command's own priority (Ray lowers them to nice 15 by default: on a busy machine they would get a fraction
of a core each), and shuts it down on the way out, Ctrl-C and errors included, so no raylet, GCS or worker
outlives the command. With an
address (``host:port`` of ``ray start --head``, or ``auto`` for the cluster this machine belongs to) it
connects as a driver instead, and on the way out only disconnects: the cluster stays up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from typing import Any

from racingline.errors import RacinglineError

__all__ = ["INSTALL_HINT", "MissingExtraError", "ClusterError", "require_ray", "check_address", "ray_session",
           "cluster_cpus"]

#: How to install what ``racingline sweep`` and ``racingline eval --workers/--address`` need.
INSTALL_HINT = "pip install 'racingline[sweep]'"
#: Object store of a local Ray started by racingline (Ray's own default is 30% of the memory).
LOCAL_OBJECT_STORE_BYTES = 256 * 2**20


class MissingExtraError(RacinglineError, ImportError):
    """Ray (or Optuna) is not installed: the optional ``sweep`` extra."""


class ClusterError(RacinglineError, RuntimeError):
    """Ray could not be started, or the cluster at an address could not be reached or used."""


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def require_ray(what: str, *, optuna: bool = False) -> None:
    """Import Ray (with Ray Tune and Optuna when ``optuna``) or raise a one-line :class:`MissingExtraError`
    saying how to install them; ``what`` names the command that needs them."""
    if not _importable("ray"):
        missing = ["Ray"] + (["Optuna"] if optuna and not _importable("optuna") else [])
    else:
        missing = []
        if optuna and not _importable("ray.tune"):
            missing.append("Ray Tune")
        if optuna and not _importable("optuna"):
            missing.append("Optuna")
    if missing:
        raise MissingExtraError(f"{what} needs {' and '.join(missing)} (not installed): {INSTALL_HINT}")


def _quiet_logging() -> None:
    for name in ("ray", "ray.tune", "ray.train", "ray.air", "optuna"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)


@contextlib.contextmanager
def ray_session(address: str | None = None, cpus: int | None = None, *, keep_worker_children: bool = False
                ) -> Iterator[Any]:
    """A Ray session for one command: a private local Ray with ``cpus`` CPUs (default: this machine's), or
    a connection to the cluster at ``address``; shut down (or disconnected) on the way out. Yields ``ray``.

    ``keep_worker_children``: a local Ray does not SIGKILL the processes its workers started when a worker
    ends (Ray's ``kill_child_processes_on_worker_exit``): a sweep's trainers end themselves on SIGTERM, after
    saving their model (:mod:`racingline.sweep.trainer`), and the sweep waits for them.

    When Ray is already initialised in this process (a notebook, a test), that session is used and left up.

    Raises:
        MissingExtraError: Ray is not installed.
        ClusterError: Ray could not start, or nothing answers at ``address``.
    """
    require_ray("Ray workers")
    import ray

    if ray.is_initialized():
        yield ray
        return
    if address:
        check_address(address)
    _quiet_logging()
    common: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR, "configure_logging": True}
    reason = ""
    try:
        if address:
            with _stderr_to_file() as said:  # Ray's core logs each refused try there, once a second
                try:
                    ray.init(address=address, **common)
                except BaseException:
                    reason = _core_reason(said())
                    raise
        else:
            system: dict[str, Any] = {"worker_niceness": 0}  # the command's own priority (Ray's default: nice 15)
            if keep_worker_children:
                system["kill_child_processes_on_worker_exit"] = False
            ray.init(address="local", num_cpus=int(cpus or os.cpu_count() or 1), include_dashboard=False,
                     object_store_memory=LOCAL_OBJECT_STORE_BYTES, _system_config=system, **common)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError, OSError) as exc:
        with contextlib.suppress(Exception):
            ray.shutdown()
        text = " ".join(str(exc).split()) or type(exc).__name__
        if address:
            why = f"{text[:300]}: {reason}" if reason else text[:300]
            hint = ("; a cluster started by `ray start` checks a token: set RAY_AUTH_MODE=token here and give this "
                    "machine the head's token (`ray get-auth-token` there)") if "auth" in why.lower() else ""
            raise ClusterError(f"--address {address}: cannot connect to a Ray cluster there ({why}){hint}") from None
        raise ClusterError(f"cannot start a local Ray ({text[:300]})") from None
    try:
        yield ray
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _stderr_to_file() -> Iterator[Any]:
    """Send this process's stderr (file descriptor 2, where Ray's C++ core logs) to a temporary file; yields a
    function returning what was written."""
    import tempfile

    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield lambda: (tmp.seek(0), tmp.read().decode("utf-8", errors="replace"))[1]
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _core_reason(logged: str) -> str:
    """The message of the last line Ray's core logged (``[time level pid] file.cc:line: message``)."""
    lines = [ln.split("] ", 1)[-1] for ln in logged.splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    return last.split(": ", 1)[-1].strip() if ".cc:" in last else ""


def check_address(address: str, timeout_s: float = 10.0) -> None:
    """A ``host:port`` address must accept a connection: Ray itself retries an unreachable one for ever."""
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return  # "auto", or a form Ray reads itself
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClusterError(f"--address {address}: nothing answers there ({reason.lower()}); start the head node "
                           "with `ray start --head` and give its address (host:6379)") from None


def cluster_cpus(ray: Any) -> int:
    """The CPUs of the Ray cluster this process is connected to."""
    return int(ray.cluster_resources().get("CPU", 0))
