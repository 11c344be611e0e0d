"""``racingline torcs ...``: TORCS setup and checks, its tracks and robots, robot races (lap-time anchors)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from racingline.cli.common import check_output, fail, reports_errors

torcs_app = typer.Typer(help="TORCS, the open racing simulator, as a racingline backend: setup, tracks, robots, races.",
                        no_args_is_help=True)


def _doctor_table(rows: list[tuple[str, bool, str]]) -> Table:
    table = Table(title="TORCS support", box=None, header_style="bold")
    table.add_column("part", no_wrap=True)
    table.add_column("ok", no_wrap=True)
    table.add_column("detail")
    for item, ok, detail in rows:
        table.add_row(item, "yes" if ok else "[red]no[/red]", detail)
    return table


def _doctor() -> None:
    from racingline.torcs.setup import doctor

    rows = doctor()
    Console().print(_doctor_table(rows))
    failing = [item for item, ok, _ in rows if not ok and item != "display"]
    if failing:
        fail(f"not ready: {', '.join(failing)} (racingline torcs setup fixes what it can and says the rest)")


@torcs_app.command("setup")
@reports_errors
def setup_cmd(
    force: bool = typer.Option(False, "--force", help="Fetch the headers and build the robot again."),
    check: bool = typer.Option(False, "--check", help="Only report what is there (as `racingline torcs doctor`)."),
    install_packages: bool = typer.Option(
        False, "--install-packages", help="Install missing apt packages (torcs, libplib-dev, g++); needs root."),
    source: Path | None = typer.Option(
        None, "--source", metavar="DIR|TARBALL",
        help="Take TORCS's headers from this TORCS source tree or source tarball instead of Debian's source package."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Drive one lap to check the robot works."),
) -> None:
    """Make TORCS usable: check packages, fetch its headers, build racingline's robot, drive one lap."""
    if check:
        _doctor()
        return
    from racingline.torcs.setup import setup

    report = setup(force=force, install_packages=install_packages, source=source, check_lap=verify,
                   log=lambda text: typer.echo(text, err=True))
    typer.echo(f"TORCS: {report.install.binary}")
    typer.echo(f"headers: {report.include}")
    typer.echo(f"robot: {report.library}")
    if report.lap_time_s is not None:
        typer.echo(f"verified: one lap of road/g-track-1 by the scripted driver in {report.lap_time_s:.2f} s")
    typer.echo("ready")


@torcs_app.command("doctor")
@reports_errors
def doctor_cmd() -> None:
    """Report what TORCS support needs and what is there (exit 1 when something is missing)."""
    _doctor()


@torcs_app.command("tracks")
@reports_errors
def tracks_cmd(
    category: str | None = typer.Option(None, "--category", help="Only this category (road, oval, dirt)."),
    lengths: bool = typer.Option(False, "--lengths", help="Also read each track's length from TORCS (needs setup)."),
) -> None:
    """The installed TORCS tracks, as category/name."""
    from racingline.torcs.install import find_torcs, list_tracks, track_categories

    install = find_torcs()
    if category is not None and category not in track_categories(install):
        fail(f"--category {category}: no such TORCS track category; categories: "
             f"{', '.join(track_categories(install))}", code=2)
    for name in list_tracks(install, category):
        if lengths:
            from racingline.torcs.tracks import torcs_track

            typer.echo(f"{name}\t{torcs_track(name, install=install).length_m:.1f} m")
        else:
            typer.echo(name)


@torcs_app.command("robots")
@reports_errors
def robots_cmd() -> None:
    """The shipped robot drivers that can race here (module:index, name, car)."""
    from racingline.torcs.install import find_torcs, list_robots

    table = Table(box=None, header_style="bold")
    for col in ("robot", "name", "car"):
        table.add_column(col, no_wrap=True)
    for r in list_robots(find_torcs()):
        table.add_row(str(r), r.name, r.car)
    Console().print(table)


@torcs_app.command("drive")
@reports_errors
def drive_cmd(
    track: str = typer.Option("road/g-track-1", "--track", "-t", help="TORCS track, or a race file (.yaml)."),
    laps: int = typer.Option(1, "--laps", min=1, help="Laps to drive (a race file sets its own)."),
    opponent: list[str] = typer.Option([], "--opponent", help="A shipped robot racing too (bt, berniw:1). Repeatable."),
    port: int | None = typer.Option(None, "--port", help="UDP port of racingline's robot (default: a free one)."),
    render: bool = typer.Option(False, "--render", help="Show TORCS's window (needs a display, e.g. xvfb-run)."),
) -> None:
    """Drive a race with racingline's scripted driver through TorcsEnv (a check of the whole bridge)."""
    from racingline.torcs.drivers import ScriptedDriver
    from racingline.torcs.env import TorcsEnv

    env = TorcsEnv(track, laps=laps, opponents=opponent, port=port, frame_skip=5, prelaunch=False,
                   render_mode="human" if render else None)
    try:
        driver = ScriptedDriver()
        obs, info = env.reset(seed=0)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(driver(obs))
            done = terminated or truncated
    finally:
        env.close()
    laps_text = ", ".join(f"{t:.2f}" for t in info["lap_times_s"]) or "none"
    typer.echo(f"{info['track']}: {info['laps_completed']} lap(s) completed (lap times s: {laps_text}), "
               f"progress {info['progress']:.1f}%, race position {info['race_position']}")


@torcs_app.command("race")
@reports_errors
def race_cmd(
    track: list[str] = typer.Option(..., "--track", "-t", help="TORCS track (road/g-track-1). Repeatable."),
    robot: list[str] = typer.Option(["bt", "berniw:1"], "--robot", "-r",
                                    help="Shipped robot, NAME or NAME:INDEX; each races alone. Repeatable."),
    laps: int = typer.Option(1, "--laps", min=1, help="Laps of each race."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the results as JSON to this file."),
) -> None:
    """Race shipped robots, each alone, results-only (no window), and report their lap times."""
    from racingline.io import atomic_write_text
    from racingline.torcs.anchors import robot_lap_times

    check_output(json_out, "--json")
    rows = robot_lap_times(track, robot, laps=laps)
    table = Table(title=f"TORCS robots, {laps} lap(s) from a standing start", box=None, header_style="bold")
    for col in ("track", "robot", "laps", "race s", "best lap s", "damage"):
        table.add_column(col, no_wrap=True, justify="left" if col in ("track", "robot") else "right")
    for r in rows:  # a best lap of 0: TORCS recorded none (e.g. a one-lap race of a damaged car)
        best = f"{r['best_lap_s']:.2f}" if r["best_lap_s"] > 0 else "—"
        table.add_row(r["track"], r["robot"], str(r["laps"]), f"{r['time_s']:.2f}", best, f"{r['damage']:.0f}")
    Console().print(table)
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(rows, indent=2) + "\n")
        typer.echo(f"wrote {json_out}")


# ---------------------------------------------------------------------------------------------- eval
def wants_torcs(sim: str | None, model: Path | None, runs_dir: Path) -> bool:
    """Whether ``racingline eval`` evaluates on TORCS: ``--sim torcs``, or no ``--sim`` and a run trained on it."""
    from racingline.choices import SIMS

    if sim is not None and sim not in SIMS:
        fail(f"--sim {sim}: choose one of {', '.join(SIMS)}", code=2)
    if sim is not None:
        return sim == "torcs"
    from racingline.errors import RacinglineError
    from racingline.torcs.evaluate import run_sim

    try:
        return run_sim(model, runs_dir) == "torcs"
    except (RacinglineError, OSError):
        return False  # eval reports the missing or bad run itself


def eval_torcs(model: Path | None, tracks: list[str], episodes: int | None, max_steps: int | None,
               json_out: Path | None, stochastic: bool, seed: int, runs_dir: Path, sets: list[str] | None,
               unsupported: dict[str, object] | None = None) -> None:
    """``racingline eval`` of a TORCS run: laps and lap times per track, beside the robots bt and berniw:1.
    ``unsupported``: eval's CarRacing-only options as given (any set one is a usage error)."""
    given = [name for name, value in (unsupported or {}).items() if value]
    if given:
        fail(f"{', '.join(given)}: not available when evaluating on TORCS", code=2)
    from racingline.cli.common import apply_sets
    from racingline.io import atomic_write_text
    from racingline.torcs.evaluate import compare_with_robots, evaluate_torcs
    from racingline.torcs.install import find_torcs, resolve_track
    from racingline.train.runs import latest_run, load_run

    install = find_torcs()
    chosen = [resolve_track(install, t) for t in tracks]  # a bad track fails before the model is loaded
    run = apply_sets(load_run(model if model is not None else latest_run(runs_dir)), sets)
    chosen = chosen or [resolve_track(install, t) for t in run.config.eval.tracks]
    err = Console(stderr=True)
    with err.status("evaluating on TORCS..."):
        report = evaluate_torcs(run, chosen, episodes=episodes or run.config.eval.episodes,
                                max_steps=max_steps if max_steps is not None else run.config.eval.max_steps,
                                deterministic=not stochastic, seed=seed)
        rows = compare_with_robots(report)
    robots = [k for k in rows[0] if ":" in k] if rows else []
    table = Table(title=f"{report.model} on TORCS ({'deterministic' if report.deterministic else 'stochastic'})",
                  box=None, header_style="bold")
    for col in ("track", "laps", "lap s", *[f"{r} s" for r in robots], f"x {robots[0]}" if robots else "x",
                "prog %", "off"):
        table.add_column(col, no_wrap=True, justify="left" if col == "track" else "right")
    for t, row in zip(report.tracks, rows):
        lap = row["agent_lap_s"]
        table.add_row(t.track, row["agent_laps"], "—" if lap is None else f"{lap:.2f}",
                      *[f"{row[r]:.2f}" for r in robots], "—" if row["ratio"] is None else f"{row['ratio']:.2f}",
                      f"{t.mean_progress_pct:.1f}", str(t.off_track_count))
    table.caption = ("lap s: the agent's lap from a standing start (median of completed laps); robot columns: the "
                     "robot racing alone on the same grid; x: the agent's lap over the first robot's")
    Console().print(table)
    if json_out is not None:
        atomic_write_text(json_out, json.dumps({**report.to_dict(), "robots": rows}, indent=2) + "\n")
        typer.echo(f"wrote {json_out}")
