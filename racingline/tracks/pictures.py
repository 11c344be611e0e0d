"""Pictures of tracks: road, centerline, start line, driving direction and waypoint indices."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from racingline.io import atomic_path
from racingline.tracks.files import Track, TrackError

__all__ = ["track_figure", "plot_track", "track_title"]

_ROAD = "#5a5a5a"
_EDGE = "#f2f2f2"
_CENTER = "#ffd23f"
_START = "#e4002b"
_ARROW = "#1f77b4"


def track_title(track: Track) -> str:
    """``"<name>: length 48.07 m, width 1.07 m, 159 waypoints"``."""
    return (f"{track.name}: length {track.length_m:.2f} m, width {track.width_m:.2f} m, "
            f"{track.n_waypoints} waypoints")


def track_figure(track: Track, *, every: int = 10, size_in: float = 8.0) -> Figure:
    """A matplotlib figure of ``track`` (no pyplot, no global backend state).

    Shows the road surface, its edges, the dashed centerline, the start line across the road at
    waypoint 0, an arrow giving the driving direction, and the index of every ``every``-th waypoint.
    The title gives the name, length and mean width.

    Raises:
        TrackError: ``every`` is not a positive integer.
    """
    if every < 1:
        raise TrackError(f"every={every}: must be a positive number of waypoints")
    fig = Figure(figsize=(size_in, size_in * 0.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    inside, outside, center = track.inside, track.outside, track.center
    nxt = np.roll(np.arange(track.n_waypoints), -1)
    quads = np.stack([inside, inside[nxt], outside[nxt], outside], axis=1)
    ax.add_collection(PolyCollection(quads, facecolors=_ROAD, edgecolors=_ROAD, linewidths=0.5, zorder=1))
    for edge in (inside, outside):
        loop = np.vstack([edge, edge[:1]])
        ax.plot(loop[:, 0], loop[:, 1], color=_EDGE, linewidth=1.2, zorder=2)
    loop = np.vstack([center, center[:1]])
    ax.plot(loop[:, 0], loop[:, 1], color=_CENTER, linewidth=1.0, linestyle="--", zorder=3)
    ax.plot([inside[0, 0], outside[0, 0]], [inside[0, 1], outside[0, 1]], color=_START, linewidth=3.0,
            zorder=4, label="start")
    extent = float(np.ptp(np.vstack([inside, outside]), axis=0).max())
    arrow_len = max(2.0 * track.width_m, 0.06 * extent)
    heading = track.headings_rad[0]
    ax.annotate("", xy=(center[0, 0] + arrow_len * np.cos(heading), center[0, 1] + arrow_len * np.sin(heading)),
                xytext=(center[0, 0], center[0, 1]),
                arrowprops={"arrowstyle": "-|>", "color": _ARROW, "linewidth": 2.0, "mutation_scale": 18},
                zorder=5)
    normal = np.stack([-np.sin(track.headings_rad), np.cos(track.headings_rad)], axis=1)
    offset = 0.5 * track.widths_m + 0.45 * track.width_m
    marked = np.arange(0, track.n_waypoints, every)
    ax.plot(center[marked, 0], center[marked, 1], "o", color="black", markersize=2.5, zorder=4)
    for i in marked:
        # Label beside the road, on the side away from the inside edge.
        side = np.sign(np.dot(outside[i] - center[i], normal[i])) or 1.0
        x, y = center[i] + side * normal[i] * offset[i]
        ax.text(x, y, str(i), fontsize=7, ha="center", va="center", color="black", zorder=6)
    ax.set_title(track_title(track))
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.margins(0.08)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.grid(True, linewidth=0.3, alpha=0.5)
    fig.tight_layout()
    return fig


def plot_track(track: Track, out: str | os.PathLike, *, every: int = 10, dpi: int = 120) -> Path:
    """Draw ``track`` (see :func:`track_figure`) and save it to ``out`` atomically; returns the path.

    The picture format follows ``out``'s suffix (``.png``, ``.svg``, ``.pdf``, ...).

    Raises:
        TrackError: the suffix is not a picture format matplotlib can write, or ``every`` < 1.
    """
    out = Path(out)
    fmt = out.suffix.lower().lstrip(".")
    fig = track_figure(track, every=every)
    supported = fig.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise TrackError(f"{out}: unsupported picture format {out.suffix or '(none)'!r}; use one of "
                         f"{', '.join('.' + k for k in sorted(supported))}")
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    return out
