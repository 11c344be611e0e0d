"""``racingline tracks ...``: the track library commands (list, download, show, generate)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from racingline.cli.common import check_output, check_output_dir, fail
from racingline.errors import RacinglineError
from racingline.tracks.files import TrackError

tracks_app = typer.Typer(help="Track library: list, download, show and generate DeepRacer tracks.",
                         no_args_is_help=True)


@contextlib.contextmanager
def _errors_to_exit() -> Iterator[None]:
    """Turn library errors into one ``error: ...`` line on stderr and exit code 1."""
    try:
        yield
    except RacinglineError as exc:
        fail(str(exc))
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        fail(f"{where}{exc.strerror or exc}")


@tracks_app.command("list")
def list_tracks(
    season: int | None = typer.Option(None, "--season", help="Only tracks of this season (year)."),
    local: bool = typer.Option(False, "--local", help="Only tracks with a local copy."),
) -> None:
    """The catalog of known DeepRacer tracks, and which have a local copy."""
    from racingline.tracks.catalog import load_catalog, local_copies

    with _errors_to_exit():
        entries = load_catalog()
        rows = [(e, local_copies(e)) for e in entries if season is None or e.season == season]
    table = Table(title="DeepRacer tracks", box=None, header_style="bold")
    table.add_column("name", no_wrap=True)
    table.add_column("display name", min_width=8)
    for col in ("season", "length_m", "width_m"):
        table.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    table.add_column("dirs", min_width=4)
    table.add_column("local", min_width=4)
    shown = 0
    for e, have in rows:
        if local and not have:
            continue
        width = f"{e.width_m:.2f}" if e.width_m is not None else "?"
        table.add_row(e.name, e.display_name, str(e.season), f"{e.length_m:.2f}", width,
                      " ".join(e.directions), " ".join(have) if have else "-")
        shown += 1
    Console().print(table)
    typer.echo(f"{shown} track(s)")


@tracks_app.command("download")
def download(
    names: list[str] | None = typer.Argument(None, help="Track names, e.g. 2022_may_pro 2022_may_pro_cw."),
    all_tracks: bool = typer.Option(False, "--all", help="Every file of every catalog track."),
    dest: Path | None = typer.Option(None, "--dest",
                                     help="Folder to write into.",
                                     show_default="first RACINGLINE_TRACKS folder, else the cache "
                                                  "~/.cache/racingline/tracks"),
    source: str | None = typer.Option(None, "--source",
                                      help="http(s) base URL or local folder holding <name>.npy files.",
                                      show_default="the AWS DeepRacer community race-data repository"),
    force: bool = typer.Option(False, "--force", help="Fetch again even when the file is already there."),
    timeout_s: float = typer.Option(30.0, "--timeout", min=0.01, help="Connection/read timeout, seconds."),
) -> None:
    """Fetch DeepRacer track files (.npy), validating each before it is kept."""
    from racingline.tracks.download import download_tracks

    with _errors_to_exit():
        check_output_dir(dest, "--dest")
    err = Console(stderr=True)
    with contextlib.ExitStack() as stack:
        state: dict[str, object] = {}

        def on_start(total: int) -> None:
            if total > 1:
                progress = stack.enter_context(Progress(
                    TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True))
                state["progress"] = progress
                state["task"] = progress.add_task("tracks", total=total)

        def on_result(result) -> None:
            if "progress" in state:
                state["progress"].update(state["task"], advance=1, description=result.name)

        with _errors_to_exit():
            results = download_tracks(names, all_tracks=all_tracks, dest=dest, source=source, force=force,
                                      timeout_s=timeout_s, on_start=on_start, on_result=on_result)
    table = Table(title="Track downloads")
    for col in ("name", "status", "length_m", "path"):
        table.add_column(col, no_wrap=col in ("name", "status"))
    for r in results:
        if r.ok:
            length = f"{r.length_m:.2f}" if r.length_m is not None else ""
            table.add_row(r.name, r.status, length, str(r.path))
    failed = [r for r in results if not r.ok]
    if len(failed) < len(results):
        Console().print(table)
    for r in failed[:-1]:
        typer.echo(f"error: {r.error}", err=True)
    if failed:
        fail(failed[-1].error or "download failed")


@tracks_app.command("show")
def show(
    track: str = typer.Argument(..., help="Track name or path to a .npy file."),
    out: Path | None = typer.Option(None, "--out", help="Picture to write (.png, .svg, .pdf, ...).",
                                    show_default="<name>.png"),
    every: int = typer.Option(10, "--every", min=1, help="Label every N-th waypoint."),
    reverse: bool = typer.Option(False, "--reverse", help="Draw the track driven the other way."),
) -> None:
    """Draw a track: road, centerline, start line, direction arrow and waypoint indices."""
    with _errors_to_exit():
        check_output(out, "--out")  # before loading matplotlib
    from racingline.tracks.files import load_track
    from racingline.tracks.pictures import plot_track

    with _errors_to_exit():
        loaded = load_track(track, reverse=reverse)
        target = out if out is not None else check_output(Path(f"{loaded.name}.png"), "")
        path = plot_track(loaded, target, every=every)
    typer.echo(f"wrote {path}: {loaded.name}, length {loaded.length_m:.2f} m, width {loaded.width_m:.2f} m, "
               f"{loaded.n_waypoints} waypoints")


@tracks_app.command("generate")
def generate(
    seed: int = typer.Option(..., "--seed", min=0, help="Random seed; the same seed gives the same track."),
    length_m: float | None = typer.Option(None, "--length-m", help="Centerline length, 15-100 m.",
                                          show_default="drawn from 17-70 m"),
    width_m: float | None = typer.Option(None, "--width-m", help="Road width, 0.6-2.0 m.",
                                         show_default="1.07"),
    out: Path = typer.Option(..., "--out", help="Where to write the track (.npy)."),
) -> None:
    """Make a procedural closed DeepRacer-like track and save it as .npy."""
    from racingline.tracks.files import load_track, save_track_array
    from racingline.tracks.generator import generate_track

    with _errors_to_exit():
        if out.suffix.lower() != ".npy":
            raise TrackError(f"{out}: the output file must end with .npy")
        check_output(out, "--out")
        save_track_array(generate_track(seed, length_m=length_m, width_m=width_m), out)
        made = load_track(out)
    typer.echo(f"wrote {out}: length {made.length_m:.2f} m, width {made.width_m:.2f} m, "
               f"{made.n_waypoints} waypoints (seed {seed})")
