"""Pictures of trained policies: a grid of driven paths over track maps, and GIFs of rendered laps."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from racingline.errors import ConfigError
from racingline.evaluate.rollouts import Rollout, resolve_eval_tracks, rollout
from racingline.io import atomic_path
from racingline.tracks.files import Track, TrackError, track_search_dirs
from racingline.train.runs import LoadedRun, load_run

__all__ = [
    "default_plot_tracks",
    "rollout_title",
    "trajectory_figure",
    "save_figure",
    "plot_trajectories",
    "write_gif",
    "record_gif",
]

_PATH = "#e4002b"


def default_plot_tracks() -> list[Path]:
    """Every ``.npy`` in ``./tracks``, the project's ``tracks/`` and each ``RACINGLINE_TRACKS`` folder.

    Sorted by name within each folder; a file reached through two folders is listed once.
    """
    dirs = track_search_dirs(cache=False)
    seen: set[Path] = set()
    out: list[Path] = []
    for d in dirs:
        if not d.is_dir():
            continue
        for path in sorted(d.glob("*.npy")):
            key = path.resolve()
            if path.is_file() and key not in seen:
                seen.add(key)
                out.append(path)
    return out


def rollout_title(ro: Rollout) -> str:
    """``"kidney\\nprogress 100% · lap 21.36 s (534 steps)"`` (or ``no lap`` and the episode's length)."""
    r = ro.result
    name = f"{r.track} (reversed)" if r.track_reversed else r.track
    if r.lap_complete:
        lap = f"lap {r.lap_time_s:.2f} s ({r.lap_steps} steps)"
    else:
        lap = f"no lap ({r.end.replace('_', ' ')} after {r.steps} steps, {r.time_s:.1f} s)"
    return f"{name}\nprogress {r.progress_pct:.0f}% · {lap}"


def _driving_track(ro: Rollout) -> Track:
    """The rollout's track in the direction driven, its waypoint 0 at the episode's start (for the start
    line and the direction arrow)."""
    track = ro.track.reversed() if ro.result.track_reversed else ro.track
    k = int(ro.result.start_waypoint) % track.n_waypoints
    if k:
        track = Track(name=track.name, waypoints=np.roll(track.waypoints, -k, axis=0), source=track.source)
    return track


def trajectory_figure(rollouts: Sequence[Rollout], *, cols: int | None = None, panel_in: float = 4.0) -> Figure:
    """A grid with one panel per rollout (no pyplot): the road the car drives on (half DeepRacer's width, as
    simulated, inside the light full DeepRacer outline), the dashed centerline, the start line and the
    driving direction at the episode's start, and the car's path coloured by its speed, with one colour bar
    for all panels (a rollout without speeds is drawn in red).

    Each panel is titled with the track name, the progress reached and the lap time (or ``no lap``).
    """
    from racingline.lines.plots import draw_track, speed_collection

    if not rollouts:
        raise TrackError("trajectory plot: no tracks to draw")
    n = len(rollouts)
    cols = max(1, min(n, cols if cols else math.ceil(math.sqrt(n))))
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(panel_in * cols + 0.8, panel_in * rows * 0.95), layout="constrained")
    FigureCanvasAgg(fig)
    speeds = [np.asarray(ro.speeds_mps, dtype=np.float64) for ro in rollouts]
    top = max((float(v.max()) for v in speeds if len(v)), default=0.0)
    clim = (0.0, max(top, 0.5))
    mappable = None
    axes = []
    for i, ro in enumerate(rollouts):
        ax = fig.add_subplot(rows, cols, i + 1)
        axes.append(ax)
        draw_track(ax, _driving_track(ro), full_width=ro.sim == "torcs")
        path = np.asarray(ro.path_m, dtype=np.float64).reshape(-1, 2)
        if len(path) > 1 and len(speeds[i]) == len(path):
            mappable = speed_collection(path, speeds[i], linewidth=1.6, clim=clim, zorder=6)
            ax.add_collection(mappable)
        elif len(path):
            ax.plot(path[:, 0], path[:, 1], color=_PATH, linewidth=1.4, zorder=6)
        ax.set_title(rollout_title(ro), fontsize=9)
        ax.set_aspect("equal")
        ax.autoscale_view()
        ax.margins(0.05)
        ax.tick_params(labelsize=7)
    if mappable is not None:
        bar = fig.colorbar(mappable, ax=axes, fraction=0.04, pad=0.01, shrink=0.9)
        bar.set_label("speed (m/s)")
    return fig


def save_figure(fig: Figure, out: str | os.PathLike, dpi: int = 100) -> Path:
    """Write ``fig`` as a PNG atomically (no partial file on error)."""
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(out)


def _check_png_path(out: str | os.PathLike) -> None:
    if Path(out).suffix.lower() != ".png":
        raise ConfigError(f"{out}: the trajectory plot is a PNG; give a path ending in .png")


def plot_trajectories(model: str | os.PathLike | LoadedRun, tracks: Sequence[Track | str | os.PathLike],
                      out: str | os.PathLike, *, max_steps: int | None = None, start_waypoint: int = 0,
                      reverse: bool = False, cols: int | None = None) -> list[Rollout]:
    """Roll ``model`` out deterministically on each track and save the grid of paths to ``out`` (PNG).

    ``max_steps``: agent steps per rollout; default the run config's ``eval.max_steps``, the limit
    ``racingline eval`` uses, so a lap eval completes is a lap here. Returns the rollouts. Every input is
    checked (and every rollout run) before anything is written.
    """
    _check_png_path(out)
    run = load_run(model)
    loaded = resolve_eval_tracks(tracks)  # every track checked before any is driven
    if max_steps is None:
        max_steps = run.config.eval.max_steps
    rollouts = [rollout(run, t, deterministic=True, max_steps=max_steps, start_waypoint=start_waypoint,
                        reverse=reverse) for t in loaded]
    save_figure(trajectory_figure(rollouts, cols=cols), out)
    return rollouts


def write_gif(frames, out: str | os.PathLike, fps: float = 50.0) -> Path:
    """Write ``frames`` (an iterable of ``(H, W, 3)`` uint8 arrays) as a looping GIF, atomically.

    Frames are handed to imageio one at a time (each quantised to 256 colours as it arrives).
    """
    _check_gif_args(out, fps)
    with atomic_path(out, suffix=".gif") as tmp:
        stream = _GifStream(tmp, fps)
        try:
            for frame in frames:
                stream(frame)
        finally:
            stream.close()
        if stream.count == 0:
            raise ConfigError(f"{out}: no frames to write")
    return Path(out)


def _check_gif_args(out: str | os.PathLike, fps: float) -> None:
    if Path(out).suffix.lower() != ".gif":
        raise ConfigError(f"{out}: give a path ending in .gif")
    if not fps > 0:
        raise ConfigError(f"fps={fps}: must be positive")


class _GifStream:
    """Collects frames from a rollout and writes them through one imageio writer as they come."""

    def __init__(self, tmp: Path, fps: float) -> None:
        import imageio.v3 as iio

        self._writer = iio.imopen(tmp, "w", extension=".gif", plugin="pillow")
        self._duration_ms = 1000.0 / float(fps)
        self.count = 0

    def __call__(self, frame: np.ndarray) -> None:
        self._writer.write(np.asarray(frame, dtype=np.uint8), is_batch=False, bits=8,
                           duration=self._duration_ms, loop=0)
        self.count += 1

    def close(self) -> None:
        self._writer.close()


def record_gif(model: str | os.PathLike | LoadedRun, track: Track | str | os.PathLike, out: str | os.PathLike, *,
               steps: int | None = None, fps: float = 50.0, start_waypoint: int = 0, reverse: bool = False,
               deterministic: bool = True) -> tuple[Rollout, int]:
    """Record a deterministic rollout's full rendered frames (``rgb_array``) as a GIF at ``out``.

    The episode runs to lap completion, episode end or ``steps`` agent steps. Returns the rollout and
    the number of frames written. Nothing is left at ``out`` when anything fails.
    """
    _check_gif_args(out, fps)
    run = load_run(model)
    with atomic_path(out, suffix=".gif") as tmp:
        stream = _GifStream(tmp, fps)
        try:
            ro = rollout(run, track, deterministic=deterministic, max_steps=steps, start_waypoint=start_waypoint,
                         reverse=reverse, frame_sink=stream)
        finally:
            stream.close()
    return ro, stream.count
