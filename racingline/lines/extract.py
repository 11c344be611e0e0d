"""The racing line a driver drove: one lap's positions turned into a :class:`~racingline.lines.line.RacingLine`.

:func:`extract_line` is pure: it orders a lap's positions by where they are along the track's centerline,
keeps one lap, resamples it evenly, smooths it lightly and attaches the driven speeds (method
``"extracted"``; point 0 is the point nearest waypoint 0, as the optimisers' lines). :func:`extract_from_model`
drives a trained run (deterministic rollouts, :func:`racingline.evaluate.rollouts.rollout`) and extracts its
fastest clean lap: complete, with no off-track step. The line file then exports like any other
(``racingline line export``: npy, py, csv, model_metadata.json).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from racingline.lines.line import LineError, RacingLine
from racingline.tracks.files import Track

__all__ = ["extract_line", "extract_from_model", "best_clean_lap", "DEFAULT_SMOOTH_M", "DEFAULT_SPACING_M",
           "MIN_LINE_SPEED_MPS", "MAX_LAP_GAP_M", "DEFAULT_SEAM_M"]

#: Spacing of the extracted line's points (metres), as the optimisers' default.
DEFAULT_SPACING_M = 0.1
#: Standard deviation of the Gaussian the path is smoothed with, in metres of path: light enough to keep a
#: corner's apex (a 1 m radius moves in by ~sigma^2 / 2R = 0.01 m), enough to iron out step-to-step jitter
#: and the seam where the lap's start and end meet.
DEFAULT_SMOOTH_M = 0.15
#: Speeds below this (the standing start) are raised to it: a line's speed profile is positive (the
#: DeepRacer exports use the same floor).
MIN_LINE_SPEED_MPS = 0.1
#: A lap may miss at most this much of the track between consecutive positions (metres along the centerline).
MAX_LAP_GAP_M = 1.0
#: The lap's start and end meet at its start: a standing start leaves from the centerline, the lap ends on the
#: driver's line. Over this much track after the start (metres), the line goes straight (in offset from the
#: centerline) from where the lap ended to where the driver was by then.
DEFAULT_SEAM_M = 1.5


def _project(center: np.ndarray, points: np.ndarray, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Station (metres from waypoint 0) and signed offset (metres, left +) of each point's projection on the
    closed centerline ``(N, 2)``."""
    seg = np.roll(center, -1, axis=0) - center
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    arc = np.concatenate([[0.0], np.cumsum(seg_len)[:-1]])
    L2 = np.maximum(seg_len ** 2, 1e-18)
    station = np.empty(len(points))
    offset = np.empty(len(points))
    for k in range(0, len(points), chunk):
        rel = points[k:k + chunk, None, :] - center[None]
        t = np.clip((rel * seg[None]).sum(axis=2) / L2[None], 0.0, 1.0)
        q = rel - t[..., None] * seg[None]
        j = np.argmin((q * q).sum(axis=2), axis=1)
        rows = np.arange(len(j))
        station[k:k + chunk] = arc[j] + t[rows, j] * seg_len[j]
        side = np.sign(seg[j, 0] * rel[rows, j, 1] - seg[j, 1] * rel[rows, j, 0])
        offset[k:k + chunk] = np.where(side >= 0, 1.0, -1.0) * np.hypot(*q[rows, j].T)
    return station, offset


def _at_stations(center: np.ndarray, station_m: np.ndarray, offset_m: np.ndarray) -> np.ndarray:
    """``(M, 2)`` points at ``station_m`` along the closed centerline and ``offset_m`` to its left (the normals
    at the waypoints interpolated along each segment, so the points move smoothly)."""
    seg = np.roll(center, -1, axis=0) - center
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    arc = np.concatenate([[0.0], np.cumsum(seg_len)])
    tangent = seg / np.maximum(seg_len, 1e-12)[:, None]
    vertex = tangent + np.roll(tangent, 1, axis=0)
    vertex /= np.maximum(np.hypot(vertex[:, 0], vertex[:, 1]), 1e-12)[:, None]
    normal = np.stack([-vertex[:, 1], vertex[:, 0]], axis=1)
    s = np.asarray(station_m, dtype=np.float64) % arc[-1]
    i = np.clip(np.searchsorted(arc, s, side="right") - 1, 0, len(center) - 1)
    t = ((s - arc[i]) / np.maximum(seg_len[i], 1e-12))[:, None]
    nxt = (i + 1) % len(center)
    n = (1.0 - t) * normal[i] + t * normal[nxt]
    n /= np.maximum(np.hypot(n[:, 0], n[:, 1]), 1e-12)[:, None]
    return center[i] + t * seg[i] + np.asarray(offset_m, dtype=np.float64)[:, None] * n


def _resample_closed(xy: np.ndarray, values: np.ndarray, spacing_m: float) -> tuple[np.ndarray, np.ndarray]:
    """A closed polyline ``(M, 2)`` and per-point ``values`` resampled every ~``spacing_m`` along it."""
    closed = np.vstack([xy, xy[:1]])
    seg = np.hypot(*np.diff(closed, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    n = max(int(round(s[-1] / spacing_m)), 3)
    t = np.linspace(0.0, s[-1], n, endpoint=False)
    vals = np.concatenate([values, values[:1]])
    out = np.stack([np.interp(t, s, closed[:, 0]), np.interp(t, s, closed[:, 1])], axis=1)
    return out, np.interp(t, s, vals)


def _smooth_closed(values: np.ndarray, sigma_pts: float) -> np.ndarray:
    """Periodic Gaussian smoothing of ``values`` ``(M, ...)`` along axis 0 (``sigma_pts`` points)."""
    if sigma_pts <= 0:
        return values
    half = int(math.ceil(3.0 * sigma_pts))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma_pts) ** 2)
    kernel /= kernel.sum()
    n = len(values)
    idx = (np.arange(-half, n + half)) % n
    padded = values[idx]
    if padded.ndim == 1:
        return np.convolve(padded, kernel, mode="valid")
    return np.stack([np.convolve(padded[:, c], kernel, mode="valid") for c in range(padded.shape[1])], axis=1)


def extract_line(positions_m: np.ndarray, speeds_mps: np.ndarray, track: Track, *, reverse: bool = False,
                 spacing_m: float = DEFAULT_SPACING_M, smooth_m: float = DEFAULT_SMOOTH_M,
                 seam_m: float = DEFAULT_SEAM_M, lap_time_s: float | None = None,
                 meta: dict[str, Any] | None = None) -> RacingLine:
    """The racing line of one driven lap.

    Args:
        positions_m: ``(T, 2)`` the car's positions over (at least) one lap, in the track file's metres, in
            the order driven; speeds_mps: ``(T,)`` its speed at each (m/s).
        track: the track as loaded (its own direction); reverse: the lap was driven the other way.
        spacing_m: distance between the line's points (metres); smooth_m: the smoothing Gaussian's standard
            deviation, metres of path (0: none).
        seam_m: over this much track after the start, the line's offset from the centerline goes straight
            from where the lap ended to where the driver was ``seam_m`` later, so a standing start's run-up
            from the centerline is not taken for the driver's line (0: the positions as driven).
        lap_time_s: the driven lap time, kept in ``meta`` as ``lap_time_driven_s``; meta: more to keep.

    Each position is placed by its projection on the centerline; the first lap's worth of them (in
    driving order, never going back) has its start bridged (``seam_m``), is rotated to start at waypoint 0,
    resampled every ``spacing_m`` of path, smoothed, resampled again. Speeds follow the same steps (the
    bridge keeps the run-up's speeds) and are floored at :data:`MIN_LINE_SPEED_MPS`. ``meta`` records the
    fit: ``fit_max_m`` and ``fit_mean_m``, the distances from the line of the driven positions it was made
    from (the lap's, after the bridged start).

    Returns:
        a :class:`RacingLine` with method ``"extracted"``, ``margin_m`` the smallest clearance the line keeps
        inside the simulated road (0 when it touches or leaves the edge), and ``speed_mps``.

    Raises:
        LineError: bad arrays, or positions that do not go all the way round the track.
    """
    from racingline.lines.drive import line_deviation_m
    from racingline.lines.geometry import line_clearance_m

    pos = np.asarray(positions_m, dtype=np.float64)
    vel = np.asarray(speeds_mps, dtype=np.float64).reshape(-1)
    if pos.ndim != 2 or pos.shape[1] != 2 or len(pos) != len(vel):
        raise LineError(f"extract: positions must be (T, 2) with T speeds, got {pos.shape} and {vel.shape}")
    if len(pos) < 10 or not (np.all(np.isfinite(pos)) and np.all(np.isfinite(vel))):
        raise LineError(f"extract: needs at least 10 finite positions and speeds, got {len(pos)}")
    if not (math.isfinite(spacing_m) and 0.01 <= spacing_m <= 1.0):
        raise LineError(f"extract: spacing_m={spacing_m}: must be between 0.01 and 1 m")
    for name, value in (("smooth_m", smooth_m), ("seam_m", seam_m)):
        if not (math.isfinite(value) and value >= 0):
            raise LineError(f"extract: {name}={value}: must be >= 0")
    drive = track.reversed() if reverse else track
    length = drive.length_m
    # Unwrapped centerline station of each position: one lap from the first position, never going back.
    st, off = _project(drive.center, pos)
    step = np.diff(st)
    step -= length * np.round(step / length)
    su = st[0] + np.concatenate([[0.0], np.cumsum(step)])
    forward = su > np.concatenate([[-np.inf], np.maximum.accumulate(su)[:-1]])
    keep = forward & (su < su[0] + length)
    pos_k, vel_k, su_k, off_k = pos[keep], vel[keep], su[keep], off[keep]
    covered = su_k[-1] - su_k[0]
    gaps = np.diff(np.concatenate([su_k, [su_k[0] + length]]))
    if gaps.max() > MAX_LAP_GAP_M:
        where = float(su_k[int(np.argmax(gaps))] % length)
        raise LineError(f"extract: the positions do not go all the way round {drive.name}: they cover "
                        f"{min(100.0, 100.0 * covered / length):.1f}% of it (a gap of {gaps.max():.2f} m "
                        f"after {where:.2f} m)")
    later = np.flatnonzero(su_k - su_k[0] >= seam_m)
    fitted = pos_k
    if seam_m > 0 and len(later):
        # The first seam_m after the start: the offset from the centerline goes straight from where the lap
        # ended to where the driver was seam_m later (a standing start's run-up is not the driver's line).
        j = int(later[0])
        fitted = pos_k[j:]
        bridge = np.arange(su_k[0], su_k[j], spacing_m)
        frac = (bridge - su_k[0]) / (su_k[j] - su_k[0])
        bridge_xy = _at_stations(drive.center, bridge, off_k[-1] + frac * (off_k[j] - off_k[-1]))
        pos_k = np.vstack([bridge_xy, pos_k[j:]])
        vel_k = np.concatenate([np.interp(bridge, su_k[:j + 1], vel_k[:j + 1]), vel_k[j:]])
        su_k = np.concatenate([bridge, su_k[j:]])
    wrapped = su_k % length
    first = int(np.argmin(wrapped))  # start the loop at waypoint 0
    loop_xy = np.roll(pos_k, -first, axis=0)
    loop_v = np.roll(vel_k, -first)
    xy, v = _resample_closed(loop_xy, loop_v, spacing_m)
    sigma = smooth_m / spacing_m
    xy, v = _resample_closed(_smooth_closed(xy, sigma), _smooth_closed(v, sigma), spacing_m)
    i0 = int(np.argmin(np.hypot(*(xy - drive.center[0]).T)))
    xy, v = np.roll(xy, -i0, axis=0), np.maximum(np.roll(v, -i0), MIN_LINE_SPEED_MPS)
    dev = line_deviation_m(xy, fitted)
    clearance = line_clearance_m(drive, xy, 0.0)
    info: dict[str, Any] = {"spacing_m": float(spacing_m), "smooth_m": float(smooth_m), "seam_m": float(seam_m),
                            "fit_max_m": float(dev.max()), "fit_mean_m": float(dev.mean()),
                            "length_m": float(np.hypot(*(np.roll(xy, -1, axis=0) - xy).T).sum()),
                            "n_points": int(len(xy))}
    if lap_time_s is not None:
        info["lap_time_driven_s"] = float(lap_time_s)
    info.update(meta or {})
    margin = max(0.0, clearance) if math.isfinite(clearance) else 0.0
    return RacingLine(xy, track.name, "extracted", round(margin, 4), bool(reverse), v, info)


def best_clean_lap(rollouts: Sequence[Any]) -> Any | None:
    """The fastest of ``rollouts`` (:class:`~racingline.evaluate.results.Rollout`) with a complete lap and no
    off-track step, or ``None``."""
    clean = [r for r in rollouts if r.result.lap_complete and r.result.off_track_count == 0]
    return min(clean, key=lambda r: r.result.lap_time_s) if clean else None


def _start_waypoints(n_waypoints: int, episodes: int, first: int) -> list[int]:
    """``episodes`` start waypoints spread evenly round the track from ``first`` (a deterministic policy
    drives the same lap from the same start, so each episode starts elsewhere)."""
    return [(first + (k * n_waypoints) // episodes) % n_waypoints for k in range(episodes)]


def extract_from_model(model: str | os.PathLike | Any, track: Track | str | os.PathLike, *, reverse: bool = False,
                       episodes: int = 1, start_waypoint: int = 0, max_steps: int | None = None,
                       spacing_m: float = DEFAULT_SPACING_M, smooth_m: float = DEFAULT_SMOOTH_M,
                       seam_m: float = DEFAULT_SEAM_M, on_episode: Callable[[Any], None] | None = None,
                       ) -> tuple[RacingLine, Any, list[Any]]:
    """Drive ``model`` (a run folder, a model ``.zip`` or a loaded run) deterministically on ``track`` and
    extract the racing line of its fastest clean lap.

    Episode ``k`` of ``episodes`` starts at waypoint ``start_waypoint + k * n / episodes`` (in the driving
    direction's order). ``max_steps``: agent steps per episode (default: the run config's ``eval.max_steps``,
    as ``racingline eval``). ``on_episode`` is called with each rollout.

    Returns:
        ``(line, best, rollouts)``: the line (``meta``: ``lap_time_driven_s``, ``start_waypoint``, ``model``),
        the rollout it came from and all rollouts.

    Raises:
        LineError: no clean lap was driven (the message gives the best progress); RunError, ModelError,
        TrackError: a bad run or track.
    """
    from racingline.evaluate.rollouts import rollout
    from racingline.tracks.files import load_track
    from racingline.train.runs import load_run

    if int(episodes) < 1:
        raise LineError(f"extract: episodes={episodes}: must be at least 1")
    loaded = track if isinstance(track, Track) else load_track(track)
    run = load_run(model)
    limit = max_steps if max_steps is not None else run.config.eval.max_steps
    rollouts = []
    for start in _start_waypoints(loaded.n_waypoints, int(episodes), int(start_waypoint)):
        ro = rollout(run, loaded, deterministic=True, max_steps=limit, start_waypoint=start, reverse=reverse)
        rollouts.append(ro)
        if on_episode is not None:
            on_episode(ro)
    best = best_clean_lap(rollouts)
    where = f"{loaded.name}{' reversed' if reverse else ''}"
    if best is None:
        top = max(rollouts, key=lambda r: r.result.progress_pct)
        r = top.result
        why = "with off-track steps" if r.lap_complete else f"{r.end.replace('_', ' ')} after {r.steps} steps"
        raise LineError(f"{run.run_dir}: no clean lap on {where} in {len(rollouts)} episode(s): best progress "
                        f"{r.progress_pct:.1f}% ({why}); nothing to extract")
    r = best.result
    line = extract_line(np.asarray(best.path_m), np.asarray(best.speeds_mps), loaded, reverse=reverse,
                        spacing_m=spacing_m, smooth_m=smooth_m, seam_m=seam_m, lap_time_s=r.lap_time_s,
                        meta={"start_waypoint": r.start_waypoint, "model": str(run.run_dir),
                              "lap_steps": r.lap_steps, "episodes": len(rollouts)})
    return line, best, rollouts
