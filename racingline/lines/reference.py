"""The yardstick an agent's lap is measured with: the best racing line's lap, driven, from the agent's start.

:func:`best_line_lap` optimises each of :data:`REFERENCE_METHODS` on a track (:func:`racingline.lines.optimize.optimize_line`),
drives each once with the line controller (:func:`racingline.lines.drive.drive_line`) from a standing start
at the given waypoint and direction, exactly where an agent's evaluation episode starts, and keeps the
fastest clean lap (complete, no off-track step). :func:`driven_line_lap` is one method's lap.

Driven laps are cached as small JSON files under ``$XDG_CACHE_HOME/racingline/line_laps`` (default
``~/.cache``), keyed by the track's waypoints (their bytes' hash, not its name), the direction, the start,
the method, the margin, the speed scale and the code that makes and drives lines (racingline's version and
a hash of its line and simulator sources and the shipped car limits), so a repeated evaluation is quick and
a changed track or simulator is driven again. The cache is only an optimisation: one that cannot be read or
written is ignored.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from racingline.tracks.files import Track

__all__ = ["LineLap", "driven_line_lap", "best_line_lap", "line_laps_cache_dir", "REFERENCE_METHODS",
           "REFERENCE_MARGIN_M"]

#: The lines an agent is compared with (the best of them, driven): minimum curvature and minimum time.
REFERENCE_METHODS: tuple[str, ...] = ("mincurv", "mintime")
#: Their margin inside the simulated road (metres), as ``racingline line optimize``'s default.
REFERENCE_MARGIN_M = 0.05
#: Bump when a cached lap's meaning changes.
_CACHE_FORMAT = 1


@dataclass(frozen=True)
class LineLap:
    """One driven lap of a line: the method, where it started, and how it went (simulated seconds)."""

    track: str
    reverse: bool
    start_waypoint: int
    method: str
    margin_m: float
    speed_scale: float
    lap_complete: bool
    lap_time_s: float
    off_track_steps: int
    progress: float

    @property
    def clean(self) -> bool:
        """A complete lap with no off-track step."""
        return self.lap_complete and self.off_track_steps == 0


def line_laps_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/racingline/line_laps`` (default ``~/.cache/racingline/line_laps``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "racingline" / "line_laps"


@functools.lru_cache(maxsize=1)
def _code_version() -> str:
    """racingline's version and a hash of the sources that make and drive a line (and the car limits)."""
    import racingline
    from racingline.lines.limits import DEFAULT_LIMITS_PATH

    package = Path(racingline.__file__).resolve().parent
    digest = hashlib.sha256(racingline.__version__.encode())
    for path in [*sorted((package / "lines").glob("*.py")), *sorted((package / "sim").glob("*.py")),
                 Path(DEFAULT_LIMITS_PATH)]:
        try:
            digest.update(path.name.encode() + path.read_bytes())
        except OSError:
            digest.update(path.name.encode())
    return digest.hexdigest()[:16]


def _cache_path(track: Track, reverse: bool, start: int, method: str, margin_m: float, speed_scale: float) -> Path:
    key = json.dumps({"waypoints": hashlib.sha256(track.waypoints.tobytes()).hexdigest(), "reverse": reverse,
                      "start": start, "method": method, "margin_m": round(float(margin_m), 6),
                      "speed_scale": round(float(speed_scale), 6), "code": _code_version(),
                      "format": _CACHE_FORMAT}, sort_keys=True)
    name = f"{track.name}-{'rev' if reverse else 'fwd'}-{start}-{method}-{hashlib.sha256(key.encode()).hexdigest()[:20]}"
    return line_laps_cache_dir() / f"{name}.json"


def _read(path: Path) -> LineLap | None:
    try:
        return LineLap(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _write(path: Path, lap: LineLap) -> None:
    from racingline.io import atomic_write_text

    try:
        atomic_write_text(path, json.dumps(asdict(lap), sort_keys=True) + "\n")
    except OSError:  # a read-only or full cache: the lap is simply not kept
        pass


def driven_line_lap(track: Track, method: str, *, reverse: bool = False, start_waypoint: int = 0,
                    margin_m: float = REFERENCE_MARGIN_M, speed_scale: float | None = None,
                    cache: bool = True) -> LineLap:
    """Optimise ``method``'s line on ``track`` and drive it once from a standing start at ``start_waypoint``
    (in the driving direction's waypoint order, as the env counts it); cached (see the module docstring).

    ``speed_scale``: the speed profile's fraction of the car's limits (default
    :data:`racingline.lines.drive.DEFAULT_SPEED_SCALE`). Raises :class:`~racingline.lines.line.LineError` for an
    unknown method or a margin too wide for the track.
    """
    from racingline.lines.drive import DEFAULT_SPEED_SCALE, drive_line
    from racingline.lines.optimize import optimize_line

    scale = DEFAULT_SPEED_SCALE if speed_scale is None else float(speed_scale)
    start = int(start_waypoint) % track.n_waypoints
    path = _cache_path(track, bool(reverse), start, method, margin_m, scale)
    if cache:
        found = _read(path)
        if found is not None:
            return found
    line = optimize_line(track, method, margin_m=margin_m, reverse=reverse)
    result = drive_line(line, track, speed_scale=scale, start_waypoint=start)
    lap = LineLap(track=track.name, reverse=bool(reverse), start_waypoint=start, method=method,
                  margin_m=float(margin_m), speed_scale=scale, lap_complete=bool(result.lap_complete),
                  lap_time_s=float(result.lap_time_s), off_track_steps=int(result.off_track_steps),
                  progress=float(result.progress))
    if cache:
        _write(path, lap)
    return lap


def best_line_lap(track: Track, *, reverse: bool = False, start_waypoint: int = 0,
                  methods: tuple[str, ...] = REFERENCE_METHODS, margin_m: float = REFERENCE_MARGIN_M,
                  cache: bool = True) -> LineLap | None:
    """The fastest clean lap of ``methods``' lines driven from ``start_waypoint`` (see
    :func:`driven_line_lap`), or ``None`` when none of them laps cleanly."""
    laps = [driven_line_lap(track, m, reverse=reverse, start_waypoint=start_waypoint, margin_m=margin_m,
                            cache=cache) for m in methods]
    clean = [lap for lap in laps if lap.clean and math.isfinite(lap.lap_time_s) and lap.lap_time_s > 0]
    return min(clean, key=lambda lap: lap.lap_time_s) if clean else None
