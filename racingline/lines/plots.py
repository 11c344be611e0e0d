"""Pictures of racing lines: the simulated road, the line(s) coloured by speed, braking zones, corners.

:func:`line_figure` draws the road the simulated car drives on (DeepRacer's road at the simulator's width
scale, inside the full DeepRacer outline), the dashed centerline, each line (one line: coloured by its
speed, with a colour bar; several: one colour each, lap estimates in the legend), the braking zones (where
a speed profile decelerates), numbered corners (curvature peaks of the track, in driving order), the start
line, the driving direction and, optionally, a driven path. :func:`plot_line` saves it atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps, patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from racingline.io import atomic_path
from racingline.lines.line import LineError, RacingLine
from racingline.tracks.files import Track

__all__ = ["line_figure", "plot_line", "check_picture_path", "check_gif_path", "write_lap_gif", "corners",
           "braking_mask", "line_label", "sim_road_edges", "draw_track", "speed_collection",
           "CORNER_MIN_CURVATURE_1PM", "CORNER_MIN_TURN_DEG", "LINE_COLOURS", "SPEED_CMAP"]

_FULL_ROAD = "#dedede"
_ROAD = "#6e6e6e"
_EDGE = "#f2f2f2"
_CENTER = "#ffd23f"
_START = "#e4002b"
_ARROW = "#1f77b4"
_BRAKE = "#00d8ff"
_DRIVEN = "#ffffff"
_CMAP = "RdYlGn"
_LINE_COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
                 "#9a6324", "#000075")
#: Colours of lines drawn together (one each, in order), and the colour map of speeds.
LINE_COLOURS = _LINE_COLOURS
SPEED_CMAP = _CMAP

#: A corner is where the track's smoothed curvature exceeds this (1/m: a radius under 2.5 m) ...
CORNER_MIN_CURVATURE_1PM = 0.4
#: ... and turns at least this much in all (degrees).
CORNER_MIN_TURN_DEG = 25.0
#: Curvature is smoothed over this much centerline before corners are found (metres).
_CORNER_SMOOTH_M = 0.8
#: Speed drop between consecutive points that counts as braking (m/s).
_BRAKE_TOL_MPS = 1e-3
#: Palette entries of a lap GIF's picture (three more are the car's colours).
_GIF_COLOURS = 240
#: A dark edge around lines so every colour stands out on the grey road.
_OUTLINE = [patheffects.Stroke(linewidth=3.8, foreground="black"), patheffects.Normal()]
_OUTLINE_THIN = [patheffects.Stroke(linewidth=2.0, foreground="black"), patheffects.Normal()]


def _left_normals(xy: np.ndarray) -> np.ndarray:
    t = np.roll(xy, -1, axis=0) - np.roll(xy, 1, axis=0)
    t = t / np.maximum(np.hypot(t[:, 0], t[:, 1]), 1e-12)[:, None]
    return np.stack([-t[:, 1], t[:, 0]], axis=1)


def sim_road_edges(track: Track) -> tuple[np.ndarray, np.ndarray]:
    """``(left, right)`` ``(T, 2)`` edges of the road the simulator builds for ``track``, in metres, at its
    tile points (:func:`racingline.lines.geometry.road_edges_m`: a quarter of the DeepRacer width each side)."""
    from racingline.lines.geometry import road_edges_m

    return road_edges_m(track)


def corners(track: Track, *, min_curvature_1pm: float = CORNER_MIN_CURVATURE_1PM,
            min_turn_deg: float = CORNER_MIN_TURN_DEG) -> np.ndarray:
    """Waypoint indices of the track's corners, in driving order from waypoint 0.

    A corner is a stretch of centerline turning one way whose curvature (smoothed over ~0.8 m) stays above
    ``min_curvature_1pm`` and that turns at least ``min_turn_deg`` in all; it is placed at its curvature peak.
    """
    spacing = float(np.median(track.segment_lengths_m))
    w = max(1, int(round(_CORNER_SMOOTH_M / max(spacing, 1e-6))))
    k = np.asarray(track.curvature_1pm, dtype=np.float64)
    if w > 1:
        k = np.convolve(np.concatenate([k[-w:], k, k[:w]]), np.ones(w) / w, mode="same")[w:-w]
    ds = 0.5 * (track.segment_lengths_m + np.roll(track.segment_lengths_m, 1))
    found = []
    for sign in (1.0, -1.0):
        for run in _runs(sign * k > min_curvature_1pm):
            run = run[:-1] if len(run) > 1 else run  # _runs adds the point after the stretch
            if np.degrees(np.sum(np.abs(k[run]) * ds[run])) >= min_turn_deg:
                found.append(int(run[np.argmax(np.abs(k[run]))]))
    return np.array(sorted(found), dtype=np.int64)


def braking_mask(line: RacingLine) -> np.ndarray:
    """``(N,)`` True where the speed profile slows down from point i to point i+1 (False without one)."""
    if line.speed_mps is None:
        return np.zeros(len(line.xy), dtype=bool)
    v = line.speed_mps
    return (np.roll(v, -1) < v - _BRAKE_TOL_MPS)


def _lap_times(line: RacingLine) -> tuple[float | None, float | None]:
    def get(key: str) -> float | None:
        value = line.meta.get(key)
        return float(value) if isinstance(value, (int, float)) else None

    return get("lap_time_flying_s"), get("lap_time_standing_s")


def line_label(line: RacingLine) -> str:
    """``"mincurv, margin 0.05 m: lap 9.87 s flying, 10.52 s standing"`` (the estimates the line carries;
    an extracted line: ``"extracted, margin 0.03 m: driven lap 14.20 s"``, the lap it was driven in)."""
    flying, standing = _lap_times(line)
    times = [f"{v:.2f} s {name}" for v, name in ((flying, "flying"), (standing, "standing")) if v is not None]
    driven = line.meta.get("lap_time_driven_s")
    if times:
        lap = f": lap {', '.join(times)}"
    elif isinstance(driven, (int, float)):
        lap = f": driven lap {float(driven):.2f} s"
    else:
        lap = ": no speed profile" if line.speed_mps is None else ""
    return f"{line.method}, margin {line.margin_m:.2f} m{lap}"


def _segments(xy: np.ndarray) -> np.ndarray:
    return np.stack([xy, np.roll(xy, -1, axis=0)], axis=1)


def _runs(mask: np.ndarray) -> list[np.ndarray]:
    """Index runs (cyclic) where ``mask`` is True, each as the point indices from its first to one past its last."""
    n = len(mask)
    if not mask.any():
        return []
    if mask.all():
        return [np.arange(n + 1) % n]
    start = int(np.flatnonzero(~mask)[0])  # rotate so no run wraps
    order = (np.arange(n) + start) % n
    m = mask[order]
    out, i = [], 0
    while i < n:
        if m[i]:
            j = i
            while j < n and m[j]:
                j += 1
            out.append(order[np.arange(i, j + 1) % n])  # include the point the last braking segment reaches
            i = j
        else:
            i += 1
    return out


def _draw_road(ax, track: Track, left: np.ndarray, right: np.ndarray) -> float:
    """Full DeepRacer road (light), the simulated road (dark, white edges, ``left``/``right`` its edges), the
    dashed centerline; returns the extent of the drawing (metres)."""
    nxt = np.roll(np.arange(track.n_waypoints), -1)
    inside, outside = track.inside, track.outside
    full = np.stack([inside, inside[nxt], outside[nxt], outside], axis=1)
    ax.add_collection(PolyCollection(full, facecolors=_FULL_ROAD, edgecolors=_FULL_ROAD, linewidths=0.5, zorder=1))
    tile = np.roll(np.arange(len(left)), -1)
    quads = np.stack([left, left[tile], right[tile], right], axis=1)
    ax.add_collection(PolyCollection(quads, facecolors=_ROAD, edgecolors=_ROAD, linewidths=0.5, zorder=2))
    for edge in (left, right):
        loop = np.vstack([edge, edge[:1]])
        ax.plot(loop[:, 0], loop[:, 1], color=_EDGE, linewidth=0.9, zorder=3)
    center = np.vstack([track.center, track.center[:1]])
    ax.plot(center[:, 0], center[:, 1], color=_CENTER, linewidth=0.8, linestyle=(0, (4, 4)), alpha=0.8, zorder=3)
    return float(np.ptp(np.vstack([inside, outside]), axis=0).max())


def _draw_start(ax, track: Track, extent: float, left: np.ndarray, right: np.ndarray) -> None:
    ax.plot([left[0, 0], right[0, 0]], [left[0, 1], right[0, 1]], color=_START, linewidth=3.0, zorder=7,
            solid_capstyle="butt")
    # The arrow runs beside the road, on the outside of the DeepRacer outline, so it hides nothing.
    normal = _left_normals(track.center)[0]
    side = track.outside[0] - track.center[0]
    sign = 1.0 if float(np.dot(side, normal)) >= 0 else -1.0
    base = track.center[0] + sign * normal * (0.5 * track.widths_m[0] + 0.25 * track.width_m)
    heading = track.headings_rad[0]
    length = max(1.5 * track.width_m, 0.06 * extent)
    tip = base + length * np.array([np.cos(heading), np.sin(heading)])
    ax.annotate("", xy=tuple(tip), xytext=tuple(base), zorder=8,
                arrowprops={"arrowstyle": "-|>", "color": _ARROW, "linewidth": 2.0, "mutation_scale": 16})
    ax.annotate("start", xy=tuple(base), xytext=(-8 * np.cos(heading), -8 * np.sin(heading)),
                textcoords="offset points", fontsize=8, color=_START, fontweight="bold", zorder=8,
                ha="right" if np.cos(heading) > 0.3 else "left" if np.cos(heading) < -0.3 else "center",
                va="top" if np.sin(heading) > 0.3 else "bottom" if np.sin(heading) < -0.3 else "center")


def draw_track(ax, track: Track, *, numbered_corners: bool = False, full_width: bool = False) -> None:
    """Draw ``track`` on ``ax`` as the line pictures do: the full DeepRacer road (light), the road the simulated
    car drives on (dark: half DeepRacer's width, :func:`sim_road_edges`; with ``full_width``, as on TORCS,
    the whole road between the track's borders), the dashed centerline, the start line and the
    driving-direction arrow; and the numbered corners when asked. ``track`` is in the driving direction
    (``track.reversed()`` for a reversed drive)."""
    left, right = (np.asarray(track.inside), np.asarray(track.outside)) if full_width else sim_road_edges(track)
    extent = _draw_road(ax, track, left, right)
    if numbered_corners:
        _draw_corners(ax, track)
    _draw_start(ax, track, extent, left, right)


def speed_collection(xy: np.ndarray, speeds_mps: np.ndarray, *, closed: bool = False, linewidth: float = 2.0,
                     clim: tuple[float, float] | None = None, zorder: float = 5) -> LineCollection:
    """A path ``(T, 2)`` coloured by ``speeds_mps`` ``(T,)`` (each segment by its ends' mean speed) on
    :data:`SPEED_CMAP`, outlined in black; ``closed`` joins the last point to the first. ``clim``: the colour
    scale's range (default: the speeds'). Add it with ``ax.add_collection`` and pass it to ``fig.colorbar``."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    v = np.asarray(speeds_mps, dtype=np.float64).reshape(-1)
    if closed:
        segs, vals = _segments(xy), 0.5 * (v + np.roll(v, -1))
    else:
        segs, vals = np.stack([xy[:-1], xy[1:]], axis=1), 0.5 * (v[:-1] + v[1:])
    lc = LineCollection(segs, cmap=_CMAP, linewidths=linewidth, zorder=zorder, capstyle="round",
                        path_effects=_OUTLINE if linewidth >= 2.0 else _OUTLINE_THIN)
    lc.set_array(vals)
    if clim is None and len(v):
        lo, hi = float(v.min()), float(v.max())
        clim = (lo, hi) if hi - lo >= 0.1 else (0.5 * (lo + hi) - 0.25, 0.5 * (lo + hi) + 0.25)
    if clim is not None:
        lc.set_clim(*clim)
    return lc


def _draw_corners(ax, track: Track) -> int:
    idx = corners(track)
    normal = _left_normals(track.center)
    for number, i in enumerate(idx, start=1):
        # Outside of the turn: right of travel on a left-hand corner, left on a right-hand one.
        sign = -1.0 if track.curvature_1pm[i] > 0 else 1.0
        pos = track.center[i] + sign * normal[i] * (0.5 * track.widths_m[i] + 0.3 * track.width_m)
        ax.text(pos[0], pos[1], str(number), fontsize=8, fontweight="bold", ha="center", va="center", zorder=9,
                color="black", bbox={"boxstyle": "circle,pad=0.25", "facecolor": "white", "edgecolor": "black",
                                     "linewidth": 0.8})
    return len(idx)


def _draw_braking(ax, line: RacingLine, width: float, alpha: float) -> bool:
    runs = _runs(braking_mask(line))
    for run in runs:
        pts = line.xy[run]
        ax.plot(pts[:, 0], pts[:, 1], color=_BRAKE, alpha=alpha, linewidth=width, solid_capstyle="round", zorder=4)
    return bool(runs)


def _title(track: Track, lines: Sequence[RacingLine]) -> str:
    name = f"{track.name.removesuffix('_reversed')} (reversed)" if lines[0].reverse else track.name
    if len(lines) == 1:
        line = lines[0]
        flying, standing = _lap_times(line)
        times = [f"{v:.2f} s {n}" for v, n in ((flying, "flying"), (standing, "standing")) if v is not None]
        lap = f"\nlap estimate {', '.join(times)}" if times else ""
        return (f"{name}: {line.method} line, margin {line.margin_m:.2f} m, {line.length_m:.2f} m{lap}")
    return f"{name}: {len(lines)} racing lines"


def line_figure(track: Track, lines: RacingLine | Sequence[RacingLine], *, driven: np.ndarray | None = None,
                driven_label: str = "driven path", title: str | None = None, size_in: float = 9.0) -> Figure:
    """A matplotlib figure (no pyplot) of ``lines`` on ``track`` (see the module docstring).

    ``track`` must be in the lines' driving direction (``track.reversed()`` for a reversed line): corners
    are numbered and the arrow drawn in its waypoint order. ``driven``: ``(T, 2)`` metres, a path the car
    drove (drawn thin over the line). ``title`` replaces the default title (track, method, lap estimate).
    """
    lines = [lines] if isinstance(lines, RacingLine) else list(lines)
    if not lines:
        raise LineError("line picture: no lines to draw")
    span = np.ptp(np.vstack([track.inside, track.outside]), axis=0)
    ratio = float(np.clip(span[1] / max(span[0], 1e-9), 0.45, 1.3))
    fig = Figure(figsize=(size_in, size_in * 0.8 * ratio + 1.9), layout="constrained")
    fig.get_layout_engine().set(h_pad=0.1, w_pad=0.1)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    left, right = sim_road_edges(track)
    extent = _draw_road(ax, track, left, right)
    line_w = 2.2
    handles: list = []
    braked = False
    single = len(lines) == 1
    brake_w, brake_alpha = (4.0 * line_w, 0.6) if single else (2.5 * line_w, 0.3)
    for line in lines:
        braked |= _draw_braking(ax, line, brake_w, brake_alpha)
    if single and lines[0].speed_mps is not None:
        line = lines[0]
        v = line.speed_mps
        lc = LineCollection(_segments(line.xy), cmap=_CMAP, linewidths=line_w, zorder=5, capstyle="round",
                            path_effects=_OUTLINE)
        lc.set_array(0.5 * (v + np.roll(v, -1)))
        lo, hi = float(v.min()), float(v.max())
        if hi - lo < 0.1:  # a (nearly) constant speed: centre it on the colour scale
            lo, hi = 0.5 * (lo + hi) - 0.25, 0.5 * (lo + hi) + 0.25
        lc.set_clim(lo, hi)
        ax.add_collection(lc)
        bar = fig.colorbar(lc, ax=ax, fraction=0.04, pad=0.01, shrink=0.9)
        bar.set_label("speed (m/s)")
        handles.append(Line2D([], [], color=colormaps[_CMAP](0.55), linewidth=line_w, label=line_label(line)))
    else:
        for i, line in enumerate(lines):
            colour = _LINE_COLOURS[i % len(_LINE_COLOURS)]
            loop = np.vstack([line.xy, line.xy[:1]])
            ax.plot(loop[:, 0], loop[:, 1], color=colour, linewidth=line_w if single else 1.5, zorder=5,
                    path_effects=_OUTLINE if single else _OUTLINE_THIN)
            handles.append(Line2D([], [], color=colour, linewidth=line_w, label=line_label(line)))
    if braked:
        handles.append(Line2D([], [], color=_BRAKE, alpha=brake_alpha, linewidth=brake_w, label="braking"))
    if driven is not None:
        path = np.asarray(driven, dtype=np.float64).reshape(-1, 2)
        if len(path):
            ax.plot(path[:, 0], path[:, 1], color=_DRIVEN, linewidth=1.0, linestyle=(0, (3, 2)), zorder=6,
                    path_effects=_OUTLINE_THIN)
            handles.append(Line2D([], [], color=_DRIVEN, linewidth=1.0, linestyle=(0, (3, 2)), label=driven_label,
                                  path_effects=_OUTLINE_THIN))
    n_corners = _draw_corners(ax, track)
    if n_corners:
        handles.append(Line2D([], [], marker="o", linestyle="none", markerfacecolor="white", markeredgecolor="black",
                              markersize=8, label=f"corners 1-{n_corners} (driving order)"))
    _draw_start(ax, track, extent, left, right)
    fig.legend(handles=handles, loc="outside lower center", ncol=1 if len(handles) < 4 else 2, fontsize=8,
               frameon=False)
    ax.set_title(title if title is not None else _title(track, lines), fontsize=10)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.margins(0.06)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.grid(True, linewidth=0.3, alpha=0.4)
    return fig


def plot_line(track: Track, lines: RacingLine | Sequence[RacingLine], out: str | os.PathLike, *,
              driven: np.ndarray | None = None, driven_label: str = "driven path", title: str | None = None,
              dpi: int = 120) -> Path:
    """Draw :func:`line_figure` and save it to ``out`` atomically; returns the path.

    The format follows ``out``'s suffix (``.png``; any picture format matplotlib writes).

    Raises:
        LineError: no lines, or a suffix matplotlib cannot write.
    """
    out = Path(out)
    fmt = check_picture_path(out)
    fig = line_figure(track, lines, driven=driven, driven_label=driven_label, title=title)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    return out


def check_picture_path(out: str | os.PathLike) -> str:
    """The picture format of ``out`` (its suffix, e.g. ``"png"``), checked before any drawing.

    Raises:
        LineError: a suffix matplotlib cannot write.
    """
    out = Path(out)
    fmt = out.suffix.lower().lstrip(".")
    supported = FigureCanvasAgg(Figure()).get_supported_filetypes()
    if fmt not in supported:
        raise LineError(f"{out}: unsupported picture format {out.suffix or '(none)'!r}; use .png (or one of "
                        f"{', '.join('.' + k for k in sorted(supported))})")
    return fmt


def check_gif_path(out: str | os.PathLike) -> None:
    """Raises :class:`LineError` unless ``out`` ends in ``.gif``."""
    if Path(out).suffix.lower() != ".gif":
        raise LineError(f"{out}: the lap animation is a GIF; give a path ending in .gif")


def write_lap_gif(track: Track, line: RacingLine, positions_m: np.ndarray, speeds_mps: np.ndarray,
                  out: str | os.PathLike, *, step_s: float, fps: float = 25.0, width_px: int = 560,
                  title: str | None = None) -> tuple[Path, int]:
    """A top-down GIF of a driven lap: the line's picture (:func:`line_figure`) with the car moving over it,
    its last second of path as a trail, and the time and speed in a corner; written atomically.

    Args:
        positions_m, speeds_mps: ``(T, 2)`` car positions (track metres) and ``(T,)`` speeds, one per step.
        step_s: simulated seconds per step; frames are taken every ``round(1 / (fps * step_s))`` steps so
            the GIF plays in real time.
    Returns:
        the path and the number of frames.
    """
    from PIL import Image, ImageDraw

    check_gif_path(out)
    pos = np.asarray(positions_m, dtype=np.float64).reshape(-1, 2)
    vel = np.asarray(speeds_mps, dtype=np.float64).reshape(-1)
    if len(pos) == 0:
        raise LineError(f"{out}: no positions to animate")
    if not (fps > 0 and step_s > 0):
        raise LineError(f"fps={fps}, step_s={step_s}: both must be positive")
    size_in = 8.0
    fig = line_figure(track, line, title=title, size_in=size_in)
    fig.set_dpi(width_px / size_in)
    fig.canvas.draw()
    rgb = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
    # One palette for every frame (the picture's colours plus the car's), so no frame is quantised again.
    background = rgb.quantize(colors=_GIF_COLOURS, method=Image.Quantize.MEDIANCUT)
    palette = background.getpalette()[:3 * _GIF_COLOURS]
    palette += [0] * (3 * _GIF_COLOURS - len(palette)) + [255, 255, 255, 0, 0, 0, 0, 216, 255]
    background.putpalette(palette + [0] * (768 - len(palette)))
    white, black, car = _GIF_COLOURS, _GIF_COLOURS + 1, _GIF_COLOURS + 2
    height = background.height
    px = fig.axes[0].transData.transform(pos)
    px[:, 1] = height - px[:, 1]
    every = max(1, int(round(1.0 / (fps * step_s))))
    trail = max(2, int(round(1.0 / step_s)))
    steps = list(range(0, len(pos), every))
    if steps[-1] != len(pos) - 1:
        steps.append(len(pos) - 1)

    def frames():
        for k in steps:
            img = background.copy()
            draw = ImageDraw.Draw(img)
            tail = [tuple(p) for p in px[max(0, k - trail):k + 1]]
            if len(tail) > 1:
                draw.line(tail, fill=white, width=2)
            x, y = px[k]
            draw.ellipse([x - 5, y - 5, x + 5, y + 5], fill=car, outline=black, width=2)
            label = f"t {(k + 1) * step_s:6.2f} s   {vel[k]:4.2f} m/s"
            x0, y0, x1, y1 = draw.textbbox((10, height - 22), label)
            draw.rectangle([x0 - 4, y0 - 3, x1 + 4, y1 + 3], fill=white, outline=black)
            draw.text((10, height - 22), label, fill=black)
            yield img

    gen = frames()
    with atomic_path(out, suffix=".gif") as tmp:
        next(gen).save(tmp, format="GIF", save_all=True, append_images=gen, duration=round(1000.0 * every * step_s),
                       loop=0)
    return Path(out), len(steps)
