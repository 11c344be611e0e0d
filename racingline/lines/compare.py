"""Lines side by side on a track: optimisers' lines, line files and an agent's driven line, with driven laps.

:func:`compare_track` drives everything from the same place, a standing start at waypoint 0 in the chosen
direction: each optimiser's line and each line file with the line controller
(:func:`racingline.lines.drive.drive_line`), and the agent with its deterministic policy
(:func:`racingline.evaluate.rollouts.rollout`, the run config's ``eval.max_steps``). Every lap time shown
is a driven, simulated lap, never an estimate. :func:`compare_figure` draws one panel per track: the road
the car drives on, each line in its own colour (or coloured by speed), lap times in the legend.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from racingline.io import atomic_path
from racingline.lines.line import LineError, RacingLine
from racingline.tracks.files import Track

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ComparedPath", "TrackComparison", "compare_track", "compare_figure", "plot_compare",
           "DEFAULT_COMPARE_METHODS"]

#: Optimisers drawn by default (``racingline line compare --methods``).
DEFAULT_COMPARE_METHODS: tuple[str, ...] = ("centerline", "mincurv", "mintime")


@dataclass(frozen=True)
class ComparedPath:
    """One thing drawn on a track: a line (``closed``) or an agent's driven path, with its driven lap.

    Attributes:
        name: ``"mincurv"``, a line file's name, ``"agent"``; driver: who drove the lap
            (``"line controller"`` or the run folder).
        xy: ``(T, 2)`` metres: the line's points, or the agent's positions; speeds_mps: ``(T,)`` the speed
            driven there (a line's: of the controller's nearest position), or ``None``.
        lap_complete, lap_time_s, progress_pct, off_track: the drive (simulated seconds; ``off_track``:
            off-track steps of a line's drive, off-track excursions of the agent's).
    """

    name: str
    driver: str
    xy: np.ndarray
    speeds_mps: np.ndarray | None
    closed: bool
    lap_complete: bool
    lap_time_s: float | None
    progress_pct: float
    off_track: int

    @property
    def label(self) -> str:
        """``"mincurv: lap 10.74 s (line controller)"``, or ``"agent: no lap, 43% (run)"``."""
        lap = f"lap {self.lap_time_s:.2f} s" if self.lap_complete else f"no lap, {self.progress_pct:.0f}%"
        off = f", {self.off_track} off-track" if self.off_track else ""
        return f"{self.name}: {lap}{off} ({self.driver})"


@dataclass(frozen=True)
class TrackComparison:
    """Everything compared on one track and direction (``track``: in the driving direction)."""

    track: Track
    reverse: bool
    paths: list[ComparedPath]

    @property
    def title(self) -> str:
        name = self.track.name.removesuffix("_reversed")
        return f"{name}{' (reversed)' if self.reverse else ''}: driven laps from a standing start at waypoint 0"


def _driven_line(name: str, line: RacingLine, track: Track, limits: Any) -> ComparedPath:
    from racingline.lines.drive import drive_line

    r = drive_line(line, track, limits=limits)
    xy = np.asarray(line.xy, dtype=np.float64)
    v = None
    if len(r.positions_m):  # the speed driven at each line point: that of the nearest driven position
        d2 = ((xy[:, None, :] - r.positions_m[None, :, :]) ** 2).sum(axis=2)
        v = np.asarray(r.speeds_mps)[np.argmin(d2, axis=1)]
    return ComparedPath(name=name, driver="line controller", xy=xy, speeds_mps=v, closed=True,
                        lap_complete=bool(r.lap_complete), lap_time_s=float(r.lap_time_s) if r.lap_complete else None,
                        progress_pct=float(r.progress), off_track=int(r.off_track_steps))


def compare_track(track: Track, *, reverse: bool = False, methods: Sequence[str] = DEFAULT_COMPARE_METHODS,
                  lines: Sequence[tuple[str, RacingLine]] = (), model: Any = None, margin_m: float = 0.05,
                  limits: Any = None, max_steps: int | None = None) -> TrackComparison:
    """Drive ``methods``' lines, ``lines`` (``(name, line)`` pairs, made for this track and direction) and
    ``model`` (a run folder or a loaded run, or ``None``) on ``track`` (as loaded) from waypoint 0.

    ``max_steps``: the agent's step limit (default: its config's ``eval.max_steps``, as ``racingline eval``).

    Raises:
        LineError: an unknown method, or a line made for another track or direction.
    """
    from racingline.lines.optimize import optimize_line

    drive = track.reversed() if reverse else track
    paths = []
    for method in methods:
        line = optimize_line(track, method, margin_m=margin_m, limits=limits, reverse=reverse)
        paths.append(_driven_line(method, line, track, limits))
    for name, line in lines:
        if line.track_name != track.name or bool(line.reverse) != bool(reverse):
            made = f"{line.track_name}{' reversed' if line.reverse else ''}"
            raise LineError(f"{name}: made for {made}, not for {track.name}{' reversed' if reverse else ''}")
        paths.append(_driven_line(name, line, track, limits))
    if model is not None:
        from racingline.evaluate.rollouts import rollout
        from racingline.train.runs import load_run

        run = load_run(model)
        limit = max_steps if max_steps is not None else run.config.eval.max_steps
        ro = rollout(run, track, deterministic=True, max_steps=limit, reverse=reverse)
        r = ro.result
        speeds = np.asarray(ro.speeds_mps, dtype=np.float64) if ro.speeds_mps else None
        paths.append(ComparedPath(name="agent", driver=str(run.run_dir), xy=np.asarray(ro.path_m).reshape(-1, 2),
                                  speeds_mps=speeds, closed=False, lap_complete=bool(r.lap_complete),
                                  lap_time_s=r.lap_time_s, progress_pct=float(r.progress_pct),
                                  off_track=int(r.off_track_count)))
    return TrackComparison(track=drive, reverse=bool(reverse), paths=paths)


def compare_figure(comparisons: Sequence[TrackComparison], *, cols: int | None = None, by_speed: bool = False,
                   panel_in: float = 6.5) -> Figure:
    """A grid of track panels (no pyplot), each with the road the simulated car drives on (half DeepRacer's
    width), the start line and the driving direction.

    By default one panel per comparison, each path in its own colour (lines solid, the agent dashed) and one
    legend entry per path giving its driven lap. ``by_speed``: one panel per path instead (a row per track
    unless ``cols`` says otherwise), each path coloured by the speed driven, titled with its lap, one colour
    bar for all.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from racingline.lines.plots import LINE_COLOURS, draw_track, speed_collection

    if not comparisons:
        raise LineError("compare: no tracks to draw")
    # Panels: (comparison, the indices of the paths drawn on it).
    panels = [(c, [k]) for c in comparisons for k in range(len(c.paths))] if by_speed else \
        [(c, list(range(len(c.paths)))) for c in comparisons]
    if not panels:
        raise LineError("compare: no lines to draw")
    n = len(panels)
    if cols is None:
        cols = max(len(c.paths) for c in comparisons) if by_speed else math.ceil(math.sqrt(n))
    cols = max(1, min(n, cols))
    rows = math.ceil(n / cols)
    spans = [np.ptp(np.vstack([c.track.inside, c.track.outside]), axis=0) for c in comparisons]
    ratio = float(np.clip(max(s[1] / max(s[0], 1e-9) for s in spans), 0.45, 1.3))
    size = panel_in if not by_speed else min(panel_in, 4.5)
    legend_in = 0.3 if by_speed else 0.6 + 0.22 * max(len(c.paths) for c in comparisons)
    fig = Figure(figsize=(size * cols + (0.9 if by_speed else 0.0), rows * (size * ratio + legend_in + 0.4)),
                 layout="constrained")
    FigureCanvasAgg(fig)
    top = max((float(np.max(p.speeds_mps)) for c in comparisons for p in c.paths
               if p.speeds_mps is not None and len(p.speeds_mps)), default=1.0)
    mappable = None
    axes = []
    for i, (comp, shown) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        axes.append(ax)
        draw_track(ax, comp.track)
        handles = []
        for k in shown:
            path = comp.paths[k]
            colour = LINE_COLOURS[k % len(LINE_COLOURS)]
            style = "-" if path.closed else (0, (4, 2))
            if by_speed and path.speeds_mps is not None and len(path.speeds_mps) == len(path.xy) > 1:
                mappable = speed_collection(path.xy, path.speeds_mps, closed=path.closed, linewidth=2.4,
                                            clim=(0.0, top), zorder=5)
                ax.add_collection(mappable)
            elif len(path.xy):
                xy = np.vstack([path.xy, path.xy[:1]]) if path.closed else path.xy
                ax.plot(xy[:, 0], xy[:, 1], color=colour, linewidth=1.6, linestyle=style, zorder=5 + k * 0.01)
            handles.append(Line2D([], [], color=colour, linewidth=1.6, linestyle=style, label=path.label))
        if by_speed:
            ax.set_title(f"{comp.title.split(':')[0]}\n{comp.paths[shown[0]].label}", fontsize=9)
        else:
            ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.06), fontsize=8,
                      frameon=False, ncol=1)
            ax.set_title(comp.title, fontsize=10)
        ax.set_aspect("equal")
        ax.autoscale_view()
        ax.margins(0.05)
        ax.tick_params(labelsize=7)
    if mappable is not None:
        bar = fig.colorbar(mappable, ax=axes, fraction=0.03, pad=0.01, shrink=0.8)
        bar.set_label("speed driven (m/s)")
    if by_speed:
        fig.suptitle("driven laps from a standing start at waypoint 0", fontsize=10)
    return fig


def plot_compare(comparisons: Sequence[TrackComparison], out: str | os.PathLike, *, cols: int | None = None,
                 by_speed: bool = False, dpi: int = 110) -> Path:
    """Draw :func:`compare_figure` and save it to ``out`` atomically (the format from its suffix)."""
    from racingline.lines.plots import check_picture_path

    out = Path(out)
    fmt = check_picture_path(out)
    fig = compare_figure(comparisons, cols=cols, by_speed=by_speed)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    return out
