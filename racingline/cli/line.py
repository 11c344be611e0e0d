"""``racingline line ...``: car limits, racing-line optimisation, driving, export and pictures.

Thin commands over :mod:`racingline.lines`: every output is checked before any work, every error is one
``error: ...`` line (an unknown method or format is a usage error, exit 2; a bad input file exit 1).
"""

from __future__ import annotations

from pathlib import Path

import typer

from racingline.choices import LINE_METHODS
from racingline.cli.common import check_output, fail, reports_errors
from racingline.lines.compare import DEFAULT_COMPARE_METHODS
from racingline.lines.export import DEFAULT_ACTIONS, FORMATS, MAX_ACTIONS, MIN_ACTIONS

line_app = typer.Typer(help="Racing lines: measure the car's limits, optimise a line, drive it, export and draw it.",
                       no_args_is_help=True)

#: A line fits a track when no point leaves the simulated road by more than this (metres).
CLEARANCE_TOLERANCE_M = 0.02

_TRACK_HELP = "Track name or .npy path. Default: the track the line was made for, looked up by name."
_LIMITS_HELP = "Car limits JSON (from `racingline line limits --out`). Default: the shipped table."


def _check_choice(option: str, value: str, valid: tuple[str, ...], what: str) -> None:
    if value not in valid:
        fail(f"{option} {value!r}: unknown {what}; choose one of {', '.join(valid)}", code=2)


def _load_limits(path: Path | None):
    from racingline.lines.limits import load_limits

    return load_limits(path)


def _lap_estimate(line) -> str:
    flying, standing = line.meta.get("lap_time_flying_s"), line.meta.get("lap_time_standing_s")
    parts = [f"{float(v):.2f} s {name}" for v, name in ((flying, "flying"), (standing, "standing"))
             if isinstance(v, (int, float))]
    return ", ".join(parts) if parts else "none (no speed profile)"


def _describe(line) -> str:
    direction = ", reversed" if line.reverse else ""
    return (f"{line.track_name}{direction}, {line.method}, margin {line.margin_m:.3f} m, {len(line.xy)} points, "
            f"length {line.length_m:.2f} m")


def _track_for(line, line_path: Path, track_arg: str | None):
    """``(track, drive)``: the track ``line`` is for, as loaded and in the line's direction, after checking the
    line fits it: the same track name, and no point off the simulated road by more than
    :data:`CLEARANCE_TOLERANCE_M`."""
    from racingline.lines.geometry import line_clearance_m
    from racingline.lines.line import LineError
    from racingline.tracks.files import load_track

    given = track_arg if track_arg is not None else line.track_name
    track = load_track(given)
    if track.name != line.track_name:
        named = given if given == track.name else f"{given} (track {track.name})"
        raise LineError(f"{line_path}: the line was made for track {line.track_name}, not for {named}; "
                        f"give --track {line.track_name}")
    drive = track.reversed() if line.reverse else track
    clearance = line_clearance_m(drive, line.xy, 0.0)
    if clearance < -CLEARANCE_TOLERANCE_M:
        raise LineError(f"{line_path}: the line does not fit track {given}: it leaves the simulated road by "
                        f"{-clearance:.3f} m (a line for another version of {line.track_name}?)")
    return track, drive


@line_app.command("limits")
@reports_errors
def limits_cmd(
    out: Path | None = typer.Option(None, "--out", help="Also write the measured limits as JSON here."),
) -> None:
    """Measure the simulated car's limits (top speed, acceleration, braking, grip) and print them."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from racingline.lines.limits import measure_limits, save_limits

    check_output(out, "--out")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("measuring", total=None)

        def on_progress(done: int, total: int, what: str) -> None:
            progress.update(task, completed=done, total=total, description=what)

        limits = measure_limits(on_progress=on_progress)
    Console().print(_limits_table(limits))
    if out is not None:
        save_limits(limits, out)
        typer.echo(f"wrote {out}")


def _limits_table(limits):
    import numpy as np
    from rich.table import Table

    table = Table(title=f"Car limits (top speed {limits.top_speed_mps:.2f} m/s)", box=None, header_style="bold")
    for col in ("speed m/s", "accel m/s^2", "brake m/s^2", "lateral m/s^2", "tightest radius m"):
        table.add_column(col, justify="right", no_wrap=True)
    top = limits.top_speed_mps
    for v in [*np.arange(0.5, top, 0.5), top]:
        lat = float(limits.lat_accel_at(v))
        table.add_row(f"{v:.2f}", f"{float(limits.accel_at(v)):.2f}", f"{float(limits.brake_at(v)):.2f}",
                      f"{lat:.2f}", f"{v * v / lat:.2f}" if lat > 0 else "-")
    return table


@line_app.command("optimize")
@reports_errors
def optimize_cmd(
    track: str = typer.Argument(..., help="Track name or .npy path."),
    method: str = typer.Option("mincurv", "--method", "-m", help=f"Optimiser: {', '.join(LINE_METHODS)}."),
    margin_m: float = typer.Option(0.05, "--margin-m", min=0.0,
                                   help="Metres the car's side keeps inside the simulated road's edge."),
    reverse: bool = typer.Option(False, "--reverse", help="Make the line for the track driven the other way."),
    spacing_m: float = typer.Option(0.1, "--spacing-m", min=0.01, max=1.0, help="Distance between line points, m."),
    limits_path: Path | None = typer.Option(None, "--limits", help=_LIMITS_HELP),
    out: Path = typer.Option(..., "--out", help="Line file to write (.npz)."),
) -> None:
    """Optimise a racing line around a track, with its speed profile and lap-time estimates."""
    from racingline.lines.line import save_line
    from racingline.lines.optimize import optimize_line
    from racingline.tracks.files import load_track

    _check_choice("--method", method, LINE_METHODS, "method")
    check_output(out, "--out")
    loaded = load_track(track)
    limits = _load_limits(limits_path)
    line = optimize_line(loaded, method, margin_m=margin_m, limits=limits, spacing_m=spacing_m, reverse=reverse)
    save_line(line, out)
    typer.echo(f"wrote {out}: {_describe(line)}")
    typer.echo(f"lap estimate: {_lap_estimate(line)}")


@line_app.command("drive")
@reports_errors
def drive_cmd(
    line_path: Path = typer.Option(..., "--line", help="Line file (.npz) to drive."),
    track: str | None = typer.Option(None, "--track", "-t", help=_TRACK_HELP),
    gif: Path | None = typer.Option(None, "--gif", help="Also write a top-down GIF of the lap here (.gif)."),
    plot: Path | None = typer.Option(None, "--plot", help="Also draw the driven path over the line here (.png)."),
    flying: bool = typer.Option(False, "--flying", help="Time a flying lap (the second one) instead of a standing start."),
    speed_scale: float | None = typer.Option(None, "--speed-scale", min=0.05, max=1.5,
                                             help="Drive a speed profile at this fraction of the measured grip.",
                                             show_default="racingline.lines.drive.DEFAULT_SPEED_SCALE"),
    own_speeds: bool = typer.Option(False, "--own-speeds", help="Drive the line's own speed profile instead."),
    max_steps: int | None = typer.Option(None, "--max-steps", min=1,
                                         help="Stop after this many steps. Default: 3x the estimate (>= 60 s)."),
    limits_path: Path | None = typer.Option(None, "--limits", help=_LIMITS_HELP),
) -> None:
    """Drive a line in the simulator with the line follower; compare the lap with its estimate."""
    from racingline.lines.line import LineError, load_line
    from racingline.lines.plots import check_gif_path, check_picture_path, plot_line, write_lap_gif

    if own_speeds and speed_scale is not None:
        fail("--own-speeds and --speed-scale: give one or the other", code=2)
    check_output(gif, "--gif")
    check_output(plot, "--plot")
    if gif is not None:
        check_gif_path(gif)
    if plot is not None:
        check_picture_path(plot)
    line = load_line(line_path)
    if own_speeds and line.speed_mps is None:
        raise LineError(f"{line_path}: --own-speeds: the line has no speed profile")
    base, drive = _track_for(line, line_path, track)  # drive_line takes the track as loaded
    limits = _load_limits(limits_path) if limits_path is not None else None

    from racingline.lines.drive import DEFAULT_SPEED_SCALE, SETTLE_M, drive_line
    from racingline.sim.env import FPS

    scale = None if own_speeds else (DEFAULT_SPEED_SCALE if speed_scale is None else speed_scale)
    result = drive_line(line, base, limits=limits, max_steps=max_steps, standing_start=not flying,
                        speed_scale=scale)
    start = "flying lap" if flying else "standing start"
    estimate = result.lap_time_estimate_s
    ratio = result.ratio
    if result.lap_complete:
        lap = f"{result.lap_time_s:.2f} s ({start})"
    else:
        lap = f"not completed ({result.progress:.1f}% after {result.steps} steps, {result.lap_time_s:.2f} s)"
    settled = "" if flying else f", {result.max_dev_settled_m:.3f} m after the first {SETTLE_M:g} m"
    profile = "the line's own profile" if scale is None else f"{scale:g} x the measured grip"
    typer.echo(f"line:        {line_path} ({_describe(line)})")
    typer.echo(f"speeds:      {profile}")
    typer.echo(f"lap:         {lap}")
    typer.echo(f"estimate:    {f'{estimate:.2f} s ({start})' if estimate else 'none'}")
    typer.echo(f"ratio:       {f'{ratio:.3f}' if ratio is not None else '-'}")
    typer.echo(f"deviation:   max {result.max_dev_m:.3f} m{settled}, mean {result.mean_dev_m:.3f} m")
    typer.echo(f"off-track:   {result.off_track_steps} steps")
    driven_line = result.line if result.line is not None else line
    if plot is not None:
        label = (f"driven: {'lap ' + lap if result.lap_complete else 'no lap'}"
                 f"{f', {ratio:.3f}x the estimate' if ratio is not None else ''}, "
                 f"max deviation {result.max_dev_m:.2f} m")
        plot_line(drive, driven_line, plot, driven=result.positions_m, driven_label=label)
        typer.echo(f"wrote {plot}")
    if gif is not None:
        _, frames = write_lap_gif(drive, driven_line, result.positions_m, result.speeds_mps, gif, step_s=1.0 / FPS)
        typer.echo(f"wrote {gif} ({frames} frames)")


@line_app.command("export")
@reports_errors
def export_cmd(
    line_path: Path = typer.Argument(..., help="Line file (.npz)."),
    fmt: str = typer.Option(..., "--format", "-f", help=f"Format: {', '.join(FORMATS)}."),
    out: Path | None = typer.Option(None, "--out", help="File to write.", show_default="<line name>.<format>"),
    actions: int = typer.Option(DEFAULT_ACTIONS, "--actions", min=MIN_ACTIONS, max=MAX_ACTIONS,
                                help="Discrete actions of model_metadata.json (k-means clusters)."),
) -> None:
    """Export a line for DeepRacer: points, a reward-function module, a table or an action space.

    npy: the points (first repeated last); py: `racing_line` and `speeds` for a reward function; csv: x, y,
    speed, time, curvature; model_metadata.json: a discrete action space (k-means); continuous.json: a
    continuous action space spanning the line's steering and speeds.
    """
    from racingline.lines.export import export_line
    from racingline.lines.line import LineError, load_line

    _check_choice("--format", fmt, FORMATS, "format")
    target = out if out is not None else Path(f"{line_path.name.removesuffix('.npz')}.{fmt}")
    check_output(target, "--out" if out is not None else "")
    line = load_line(line_path)
    try:
        export_line(line, fmt, target, actions=actions)
    except LineError as exc:
        raise LineError(f"{line_path}: {exc}") from None
    typer.echo(f"wrote {target}: {fmt} of {line_path} ({_describe(line)})")


@line_app.command("show")
@reports_errors
def show_cmd(
    lines: list[Path] = typer.Argument(..., help="Line files (.npz), all for the same track and direction."),
    track: str | None = typer.Option(None, "--track", "-t", help=_TRACK_HELP),
    out: Path | None = typer.Option(None, "--out", help="Picture to write (.png).", show_default="<first line>.png"),
) -> None:
    """Draw lines on their track, with speeds, braking zones, corners and lap estimates.

    One line is coloured by speed; several get one colour each, their lap estimates in the legend.
    """
    from racingline.lines.line import LineError, load_line
    from racingline.lines.plots import check_picture_path, plot_line

    target = out if out is not None else Path(f"{lines[0].name.removesuffix('.npz')}.png")
    check_output(target, "--out" if out is not None else "")
    check_picture_path(target)
    loaded = [load_line(p) for p in lines]
    first = loaded[0]
    for path, line in zip(lines[1:], loaded[1:]):
        if line.track_name != first.track_name or line.reverse != first.reverse:
            raise LineError(f"{path}: made for {line.track_name}{' reversed' if line.reverse else ''}, but "
                            f"{lines[0]} for {first.track_name}{' reversed' if first.reverse else ''}; "
                            "show lines of one track and direction together")
    drive = [_track_for(line, path, track)[1] for path, line in zip(lines, loaded)][0]
    plot_line(drive, loaded, target)
    typer.echo(f"wrote {target}: {len(loaded)} line(s) on {first.track_name}")
    for path, line in zip(lines, loaded):
        typer.echo(f"  {path}: {line.method}, margin {line.margin_m:.3f} m, lap estimate {_lap_estimate(line)}")


@line_app.command("extract")
@reports_errors
def extract_cmd(
    model: Path = typer.Option(..., "--model", "-m", help="Run folder (or model .zip) whose agent drives."),
    track: str = typer.Option(..., "--track", "-t", help="Track name or .npy path."),
    reverse: bool = typer.Option(False, "--reverse", help="Drive the track the other way."),
    episodes: int = typer.Option(1, "--episodes", "-n", min=1,
                                 help="Episodes to drive, their starts spread evenly round the track from "
                                      "--start-waypoint (a deterministic policy repeats a lap from one start)."),
    start_waypoint: int = typer.Option(0, "--start-waypoint", min=0, help="Waypoint the first episode starts from."),
    max_steps: int | None = typer.Option(None, "--max-steps", min=1,
                                         help="Agent steps per episode. Default: the run config's eval.max_steps."),
    spacing_m: float = typer.Option(0.1, "--spacing-m", min=0.01, max=1.0, help="Distance between line points, m."),
    smooth_m: float = typer.Option(0.15, "--smooth-m", min=0.0, max=2.0,
                                   help="Smoothing (a Gaussian's standard deviation, metres of path; 0: none)."),
    out: Path = typer.Option(..., "--out", help="Line file to write (.npz)."),
) -> None:
    """Drive a trained agent and save the racing line of its fastest clean lap (complete, never off the road).

    The lap is resampled along the track and lightly smoothed; the line keeps the driven speeds and lap time.
    Export it like any line: `racingline line export LINE --format py` (or npy, csv, model_metadata.json).
    """
    from rich.console import Console

    from racingline.lines.extract import extract_from_model
    from racingline.lines.line import save_line
    from racingline.tracks.files import load_track

    check_output(out, "--out")
    loaded = load_track(track)  # a bad track fails before the model is loaded
    with Console(stderr=True).status("driving...") as status:
        done = [0]

        def on_episode(ro) -> None:
            done[0] += 1
            r = ro.result
            lap = f"lap {r.lap_time_s:.2f} s" if r.lap_complete else f"no lap, {r.progress_pct:.0f}%"
            status.update(f"driving: {done[0]}/{episodes} episodes done (last: {lap})")

        line, best, rollouts = extract_from_model(model, loaded, reverse=reverse, episodes=episodes,
                                                  start_waypoint=start_waypoint, max_steps=max_steps,
                                                  spacing_m=spacing_m, smooth_m=smooth_m, on_episode=on_episode)
    save_line(line, out)
    r = best.result
    clean = sum(ro.result.lap_complete and ro.result.off_track_count == 0 for ro in rollouts)
    typer.echo(f"wrote {out}: {_describe(line)}")
    typer.echo(f"lap:         {r.lap_time_s:.2f} s driven (standing start at waypoint {r.start_waypoint}; "
               f"{clean} of {len(rollouts)} episodes lapped cleanly)")
    typer.echo(f"fit:         the line is at most {line.meta['fit_max_m']:.3f} m from the driven path "
               f"(mean {line.meta['fit_mean_m']:.3f} m)")
    typer.echo(f"export:      racingline line export {out} --format py (or npy, csv, model_metadata.json)")


@line_app.command("compare")
@reports_errors
def compare_cmd(
    track: list[str] = typer.Option(..., "--track", "-t",
                                    help="Track name or .npy path; repeat it for a grid of tracks."),
    model: Path | None = typer.Option(None, "--model", "-m", help="Also drive this run's agent (run folder or .zip)."),
    lines: list[Path] = typer.Option([], "--line", help="Also drive this line file (.npz) on its track; repeatable."),
    methods: str = typer.Option(",".join(DEFAULT_COMPARE_METHODS), "--methods",
                                help=f"Optimisers to draw, comma-separated ('' for none): {', '.join(LINE_METHODS)}."),
    reverse: bool = typer.Option(False, "--reverse", help="Drive every track the other way."),
    by_speed: bool = typer.Option(False, "--by-speed", help="Colour each path by its speed (one colour bar)."),
    margin_m: float = typer.Option(0.05, "--margin-m", min=0.0,
                                   help="The optimisers' margin inside the simulated road's edge, m."),
    max_steps: int | None = typer.Option(None, "--max-steps", min=1,
                                         help="The agent's step limit. Default: the run config's eval.max_steps."),
    cols: int | None = typer.Option(None, "--cols", min=1, help="Panels per row. Default: a square-ish grid."),
    limits_path: Path | None = typer.Option(None, "--limits", help=_LIMITS_HELP),
    out: Path = typer.Option(..., "--out", help="Picture to write (.png)."),
) -> None:
    """Draw optimised lines, line files and an agent's driven line over tracks, with the laps they drove.

    Every lap in the legend is driven in the simulator from a standing start at waypoint 0: lines by the line
    controller, the agent by its deterministic policy (never an estimate). Several --track: a grid.
    """
    from rich.console import Console

    from racingline.lines.compare import compare_track, plot_compare
    from racingline.lines.line import LineError, load_line
    from racingline.lines.plots import check_picture_path
    from racingline.tracks.files import load_track

    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    for m in chosen:
        _check_choice("--methods", m, LINE_METHODS, "method")
    if not chosen and not lines and model is None:
        fail("--methods '': nothing to draw; give --methods, --line or --model", code=2)
    check_output(out, "--out")
    check_picture_path(out)
    loaded = [load_track(t) for t in track]
    files = [(path, load_line(path)) for path in lines]
    per_track: list[list] = [[] for _ in loaded]
    for path, line in files:
        where = [i for i, t in enumerate(loaded) if t.name == line.track_name]
        if not where or bool(line.reverse) != bool(reverse):
            made = f"{line.track_name}{' reversed' if line.reverse else ''}"
            given = ", ".join(f"{t.name}{' reversed' if reverse else ''}" for t in loaded)
            raise LineError(f"{path}: made for {made}, which is not among the tracks compared ({given})")
        _track_for(line, path, track[where[0]])  # the line fits that track file
        for i in where:
            per_track[i].append((path.name.removesuffix(".npz"), line))
    limits = _load_limits(limits_path) if limits_path is not None else None
    from racingline.train.runs import load_run

    run = load_run(model) if model is not None else None  # a bad run fails before any driving
    comparisons = []
    with Console(stderr=True).status("driving...") as status:
        for t, given in zip(loaded, per_track):
            status.update(f"driving the lines on {t.name}...")
            comparisons.append(compare_track(t, reverse=reverse, methods=chosen, lines=given, model=run,
                                             margin_m=margin_m, limits=limits, max_steps=max_steps))
    plot_compare(comparisons, out, cols=cols, by_speed=by_speed)
    typer.echo(f"wrote {out}: {len(comparisons)} track(s)")
    for comp in comparisons:
        typer.echo(f"  {comp.title}")
        for p in comp.paths:
            typer.echo(f"    {p.label}")
