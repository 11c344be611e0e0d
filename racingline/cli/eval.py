"""``racingline eval``, ``plot-trajectories`` and ``gif``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from racingline.cli.common import SET_HELP, apply_sets, check_output, check_output_dir, fail, reports_errors

_MODEL_HELP = ("Run folder (holding model.zip, vecnormalize.pkl, config.yaml) or a model .zip. "
               "Default: the newest run in --runs-dir.")
_RUNS_HELP = "Where to look for the newest run when --model is not given."
_TRACK_HELP = ("Track to drive: a .npy path, or a name looked up in ./tracks, the project's tracks/ and RACINGLINE_TRACKS "
               "('random' = CarRacing's procedural track). Repeatable.")
_TRACKS_HELP = "Track pool spec or glob (e.g. '../shared/tracks/2022/2022_*'), expanded to one row per track. Repeatable."
_START_HELP = "Waypoint index every episode starts from."
_REVERSE_HELP = "Drive each track against its own direction."


def _fmt(value: float | None, spec: str = ".2f", none: str = "—") -> str:
    return none if value is None else format(value, spec)


def _load_run(model: Path | None, runs_dir: Path, sets: list[str] | None = None):
    """The run ``--model`` names, or else the newest run in ``--runs-dir`` (a RunError naming it when none),
    with the ``--set`` overrides applied to its config (checked before the model is loaded)."""
    from racingline.train.config import apply_overrides, load_config
    from racingline.train.runs import latest_run, load_run, resolve_run_files

    path = model if model is not None else latest_run(runs_dir)
    if sets:
        apply_overrides(load_config(resolve_run_files(path)[1]), sets)  # a bad --set fails fast, one line
    return apply_sets(load_run(path), sets)


def _plot_torcs(model: Path | None, tracks: list[str], out: Path | None, max_steps: int | None, cols: int | None,
                runs_dir: Path, sets: list[str] | None) -> None:
    """``plot-trajectories`` of a run trained on TORCS: its eval tracks unless ``--track`` names TORCS tracks."""
    from racingline.torcs.evaluate import plot_torcs_trajectories
    from racingline.torcs.install import find_torcs, resolve_track

    install = find_torcs()
    chosen = [resolve_track(install, t) for t in tracks]  # a bad track fails before the model is loaded
    run = _load_run(model, runs_dir, sets)
    chosen = chosen or [resolve_track(install, t) for t in run.config.eval.tracks]
    if max_steps is None:
        max_steps = run.config.eval.max_steps
    target = out if out is not None else check_output(run.run_dir / "trajectories.png", "")
    rollouts: list = []
    _write_or_fail(target, lambda: rollouts.extend(plot_torcs_trajectories(run, chosen, target, max_steps=max_steps,
                                                                            cols=cols)))
    laps = sum(r.result.lap_complete for r in rollouts)
    typer.echo(f"wrote {target} ({len(rollouts)} TORCS tracks, {laps} laps completed)")


def _check_positive(name: str, value: float | None) -> None:
    if value is not None and not value > 0:
        fail(f"{name} {value}: must be positive", code=2)  # a bad option value: a usage error, like Typer's


def _write_or_fail(out: Path, write) -> None:
    from racingline.io import OutputError

    try:
        write()
    except OutputError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{out}: cannot write ({exc.strerror or exc})")


def _line_lap_s(episodes) -> float | None:
    import statistics

    laps = [e.line_lap_time_s for e in episodes if e.line_lap_time_s is not None]
    return float(statistics.median(laps)) if laps else None


def _report_table(report, line_gap: bool = False):
    from rich.table import Table

    table = Table(title=f"{report.model} ({'deterministic' if report.deterministic else 'stochastic'} policy)")
    table.add_column("track", no_wrap=True)
    names = ("lap", "steps", "time s", "prog %", "off", "rev", "reward") + (("line s", "x line") if line_gap else ())
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    for t in report.tracks:
        n = len(t.episodes)
        name = f"{t.track} (reversed)" if t.episodes and t.episodes[0].track_reversed else t.track
        lap = ("yes" if t.laps_completed else "no") if n == 1 else f"{t.laps_completed}/{n}"
        rev = ("yes" if t.reversed_episodes else "no") if n == 1 else f"{t.reversed_episodes}/{n}"
        gap = (_fmt(_line_lap_s(t.episodes)), _fmt(t.median_line_ratio, ".3f")) if line_gap else ()
        table.add_row(name, lap, _fmt(t.median_lap_steps, ".0f"), _fmt(t.median_lap_time_s),
                      f"{t.mean_progress_pct:.1f}", str(t.off_track_count), rev, f"{t.mean_reward:.1f}", *gap)
    s = report.summary()
    table.add_section()
    table.add_row("all", f"{s['laps_completed']}/{s['laps_attempted']}",
                  _fmt(s["median_lap_steps"], ".0f"), _fmt(s["median_lap_time_s"]), f"{s['mean_progress_pct']:.1f}",
                  str(s["off_track_count"]), f"{s['reversed_episodes']}/{s['laps_attempted']}",
                  f"{s['mean_reward']:.1f}", *(("", _fmt(s["median_line_ratio"], ".3f")) if line_gap else ()),
                  style="bold")
    table.caption = ("lap: laps completed; steps, time s: lap length (median of completed laps); prog %: mean "
                     "progress; off: off-track excursions; rev: drove the wrong way; reward: mean episode reward"
                     + ("; line s: the best racing line's lap (mincurv or mintime), driven by the line controller "
                        "from the same start and direction; x line: lap time over it (median of completed laps)"
                        if line_gap else ""))
    return table


def register(app: typer.Typer) -> None:
    """Add the evaluation and picture commands to ``app``."""

    @app.command("eval")
    @reports_errors
    def eval_cmd(
        model: Path | None = typer.Option(None, "--model", "-m", help=_MODEL_HELP),
        track: list[str] = typer.Option([], "--track", "-t", help=_TRACK_HELP),
        tracks: list[str] = typer.Option([], "--tracks", help=_TRACKS_HELP),
        episodes: int | None = typer.Option(None, "--episodes", "-n",
                                            help="Episodes per track. Default: the run config's eval.episodes."),
        max_steps: int | None = typer.Option(None, "--max-steps",
                                             help="Agent steps per episode. Default: the run config's limit."),
        json_out: Path | None = typer.Option(None, "--json", help="Also write the figures as JSON to this file."),
        sim_trace: Path | None = typer.Option(
            None, "--sim-trace", metavar="DIR",
            help="Also write DeepRacer simulation-trace CSV logs of the episodes into DIR/sim-trace/evaluation/ "
                 "(one stream per track; DIR may be the run folder). Open DIR with deepracer-utils' DeepRacerLog."),
        record: Path | None = typer.Option(
            None, "--record", metavar="DATASET",
            help="Also record every episode (observations, actions, rewards, car state) into this Minari dataset "
                 "folder (see `racingline record`)."),
        record_append: bool = typer.Option(False, "--record-append", help="With --record: add to an existing dataset."),
        line_gap: bool = typer.Option(
            True, "--line-gap/--no-line-gap",
            help="Compare each lap with the best racing line (mincurv or mintime) driven by the line controller "
                 "from the same start and direction (cached in ~/.cache/racingline/line_laps)."),
        stochastic: bool = typer.Option(False, "--stochastic", help="Sample actions instead of the deterministic policy."),
        start_waypoint: int = typer.Option(0, "--start-waypoint", help=_START_HELP),
        reverse: bool = typer.Option(False, "--reverse", help=_REVERSE_HELP),
        seed: int = typer.Option(0, "--seed", help="Seed of the envs (and of sampled actions with --stochastic)."),
        workers: int | None = typer.Option(
            None, "--workers", min=1, metavar="K",
            help="Spread the tracks over K Ray workers (a local Ray with K CPUs, or K actors with --address); "
                 "same table and JSON. Needs the sweep extra: pip install 'racingline\\[sweep]'."),
        address: str | None = typer.Option(
            None, "--address", metavar="ADDR",
            help="Spread the tracks over the Ray cluster at ADDR (host:port of `ray start --head`, or auto)."),
        runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help=_RUNS_HELP),
        sim: str | None = typer.Option(None, "--sim", help="carracing or torcs (TORCS tracks like road/g-track-2, "
                                       "with the robots bt and berniw's lap times). Default: the run's env.sim."),
        sets: list[str] | None = typer.Option(None, "--set", metavar="KEY=VALUE", help=SET_HELP),
    ) -> None:
        """Drive a trained model around tracks and report laps, lap times, progress and off-tracks."""
        from rich.console import Console

        from racingline.evaluate.rollouts import evaluate, resolve_eval_tracks
        from racingline.io import atomic_write_text

        _check_positive("--episodes", episodes)
        _check_positive("--max-steps", max_steps)
        check_output(json_out, "--json")
        from racingline.cli.torcs import eval_torcs, wants_torcs

        if wants_torcs(sim, model, runs_dir):  # a TORCS run (racingline.torcs.evaluate)
            return eval_torcs(model, track + tracks, episodes, max_steps, json_out, stochastic, seed, runs_dir, sets,
                              unsupported={"--sim-trace": sim_trace, "--record": record,
                                           "--start-waypoint": start_waypoint, "--reverse": reverse,
                                           "--workers": workers, "--address": address})
        check_output_dir(sim_trace, "--sim-trace")
        if workers is not None or address is not None:  # tracks spread over Ray workers (racingline.sweep.distributed)
            from racingline.sweep.distributed import ray_evaluate

            evaluate = ray_evaluate(workers=workers, address=address, sim_trace=sim_trace, record=record)
        if record is not None:
            from racingline.record.recorder import check_dataset_path

            check_dataset_path(record, record_append, what="--record")
        elif record_append:
            fail("--record-append: needs --record DATASET", code=2)
        # Tracks given on the command line are checked before the model is loaded (a bad one fails at once).
        chosen = resolve_eval_tracks(track, tracks) if (track or tracks) else None
        run = _load_run(model, runs_dir, sets)
        eval_cfg = run.config.eval
        if chosen is None:
            chosen = resolve_eval_tracks(eval_cfg.tracks)
        err = Console(stderr=True)
        with err.status("evaluating...") as status:
            done = [0]

            def _progress(result) -> None:
                done[0] += 1
                status.update(f"evaluating: {done[0]} episodes done (last: {result.track}, "
                              f"{result.progress_pct:.0f}%)")

            report = evaluate(run, chosen, episodes=episodes or eval_cfg.episodes,
                              max_steps=max_steps if max_steps is not None else eval_cfg.max_steps,
                              deterministic=not stochastic, start_waypoint=start_waypoint, reverse=reverse,
                              seed=seed, on_episode=_progress, sim_trace=sim_trace, record=record,
                              record_append=record_append, line_gap=line_gap)
        Console().print(_report_table(report, line_gap))
        if json_out is not None:
            text = json.dumps(report.to_dict(), indent=2) + "\n"
            _write_or_fail(json_out, lambda: atomic_write_text(json_out, text))
            typer.echo(f"wrote {json_out}")
        if sim_trace is not None:
            typer.echo(f"wrote simulation-trace logs to {sim_trace / 'sim-trace' / 'evaluation'}")
        if record is not None:
            typer.echo(f"recorded the episodes into {record}")

    @app.command("plot-trajectories")
    @reports_errors
    def plot_trajectories_cmd(
        model: Path | None = typer.Option(None, "--model", "-m", help=_MODEL_HELP),
        track: list[str] = typer.Option([], "--track", "-t",
                                        help=_TRACK_HELP + " Default: every .npy in tracks/ and RACINGLINE_TRACKS."),
        tracks: list[str] = typer.Option([], "--tracks", help=_TRACKS_HELP),
        out: Path | None = typer.Option(None, "--out", "-o",
                                        help="PNG to write. Default: trajectories.png in the run folder."),
        max_steps: int | None = typer.Option(
            None, "--max-steps",
            help="Agent steps per rollout. Default: the run config's eval.max_steps, as `racingline eval`."),
        start_waypoint: int = typer.Option(0, "--start-waypoint", help=_START_HELP),
        reverse: bool = typer.Option(False, "--reverse", help=_REVERSE_HELP),
        cols: int | None = typer.Option(None, "--cols", help="Panels per row. Default: a square-ish grid."),
        runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help=_RUNS_HELP),
        sets: list[str] | None = typer.Option(None, "--set", metavar="KEY=VALUE", help=SET_HELP),
    ) -> None:
        """Draw the car's path, coloured by speed, from a deterministic rollout on each track, in a grid of track
        maps: the road at the width the simulated car drives on, the start line and the driving direction."""
        from racingline.evaluate.plots import default_plot_tracks, plot_trajectories
        from racingline.evaluate.rollouts import resolve_eval_tracks

        _check_positive("--max-steps", max_steps)
        _check_positive("--cols", cols)
        if out is not None and out.suffix.lower() != ".png":
            fail(f"{out}: the trajectory plot is a PNG; give a path ending in .png")
        check_output(out, "--out")
        from racingline.cli.torcs import wants_torcs

        if wants_torcs(None, model, runs_dir):  # a TORCS run: its tracks are TORCS's (racingline.torcs.evaluate)
            if start_waypoint or reverse:
                fail("--start-waypoint, --reverse: TORCS races start on the grid and run the track's own way", code=2)
            _plot_torcs(model, list(track) + list(tracks), out, max_steps, cols, runs_dir, sets)
            return
        if track or tracks:
            chosen = resolve_eval_tracks(track, tracks)  # before the model is loaded: a bad track fails at once
            run = _load_run(model, runs_dir, sets)
        else:
            run = _load_run(model, runs_dir, sets)
            chosen = resolve_eval_tracks(default_plot_tracks())
            if not chosen:
                fail("tracks/: holds no .npy tracks (nor does RACINGLINE_TRACKS); pass --track")
        target = out if out is not None else check_output(run.run_dir / "trajectories.png", "")
        rollouts: list = []
        _write_or_fail(target, lambda: rollouts.extend(
            plot_trajectories(run, chosen, target, max_steps=max_steps, start_waypoint=start_waypoint,
                              reverse=reverse, cols=cols)))
        laps = sum(r.result.lap_complete for r in rollouts)
        typer.echo(f"wrote {target} ({len(rollouts)} tracks, {laps} laps completed)")

    @app.command("gif")
    @reports_errors
    def gif_cmd(
        model: Path | None = typer.Option(None, "--model", "-m", help=_MODEL_HELP),
        track: str | None = typer.Option(None, "--track", "-t",
                                         help="Track to drive (a .npy path or a name). Default: the run's first eval track."),
        out: Path | None = typer.Option(None, "--out", "-o",
                                        help="GIF to write. Default: <track>.gif in the run folder."),
        steps: int | None = typer.Option(None, "--steps",
                                         help="Most agent steps to record. Default: until the lap or episode ends."),
        fps: float = typer.Option(50.0, "--fps", help="Frames per second of the GIF."),
        start_waypoint: int = typer.Option(0, "--start-waypoint", help=_START_HELP),
        reverse: bool = typer.Option(False, "--reverse", help=_REVERSE_HELP),
        runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help=_RUNS_HELP),
        sets: list[str] | None = typer.Option(None, "--set", metavar="KEY=VALUE", help=SET_HELP),
    ) -> None:
        """Record full rendered frames of a deterministic rollout as an animated GIF."""
        from racingline.evaluate.plots import record_gif
        from racingline.evaluate.rollouts import resolve_eval_tracks

        _check_positive("--steps", steps)
        _check_positive("--fps", fps)
        if out is not None and out.suffix.lower() != ".gif":
            fail(f"{out}: give a path ending in .gif")
        check_output(out, "--out")
        given = resolve_eval_tracks([track]) if track is not None else None  # a bad track fails at once
        run = _load_run(model, runs_dir, sets)
        (chosen,) = given if given is not None else resolve_eval_tracks([(run.config.eval.tracks or ["random"])[0]])
        name = getattr(chosen, "name", str(chosen))
        target = out if out is not None else check_output(run.run_dir / f"{name}.gif", "")
        result: list = []
        _write_or_fail(target, lambda: result.append(
            record_gif(run, chosen, target, steps=steps, fps=fps, start_waypoint=start_waypoint, reverse=reverse)))
        ro, frames = result[0]
        r = ro.result
        lap = f"lap {r.lap_time_s:.2f} s" if r.lap_complete else f"no lap, progress {r.progress_pct:.0f}%"
        typer.echo(f"wrote {target} ({frames} frames, {lap})")
