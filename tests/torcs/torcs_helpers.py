"""Helpers of the TORCS tests (imported by name: pytest puts tests/torcs/ on sys.path; a module named
``conftest`` would clash with the other test folders' conftest modules)."""

from __future__ import annotations

from pathlib import Path

from racingline.torcs.install import cache_dir

#: racingline's TORCS cache as the user (or CI's setup step) left it, read before any test changes the env.
USER_CACHE: Path = cache_dir()


def torcs_pids() -> set[int]:
    """Pids of the running ``torcs-bin`` processes."""
    out = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() == "torcs-bin":
                    out.add(int(d.name))
            except OSError:
                continue
    return out


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"

