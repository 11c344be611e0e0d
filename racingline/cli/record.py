"""``racingline record``: record driven laps into a Minari dataset, or summarise one (``--info``)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import typer

from racingline.cli.common import fail, reports_errors
from racingline.signals import Interrupted, StopSignals, exit_code


def _print_info(path: Path, as_json: bool) -> None:
    from racingline.record.dataset import dataset_summary

    info = dataset_summary(path)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    lap = f", median lap {info['median_lap_time_s']:.2f} s" if info["median_lap_time_s"] is not None else ""
    typer.echo(f"{info['path']}: Minari dataset {info['dataset_id']} (Minari {info['minari_version']}), "
               f"{info['size_mb']:.1f} MiB")
    typer.echo(f"  episodes {info['episodes']}, steps {info['steps']}; laps {info['laps']}/{info['episodes']}{lap}, "
               f"mean progress {info['mean_progress']:.1f}%")
    typer.echo(f"  observations {info['observation_space']} ({info['obs'] or '?'}), actions {info['action_space']}")
    typer.echo(f"  drivers: {', '.join(info['drivers'])}")
    tracks = ", ".join(f"{name} x{n}" for name, n in sorted(info["tracks"].items()))
    typer.echo(f"  tracks: {tracks}")


def register(app: typer.Typer) -> None:
    """Add ``record`` to ``app``."""

    @app.command("record")
    @reports_errors
    def record(
        driver: str | None = typer.Option(
            None, "--driver", "-d", metavar="line:METHOD|line:FILE|model:RUN|human",
            help="Who drives: the line controller on a line optimised per track (line:mincurv, line:k1999, ...) "
                 "or on a saved line file (line:FILE), a trained run's policy (model:RUN), or you (human: "
                 "see `racingline drive --human`)."),
        out: Path | None = typer.Option(None, "--out", "-o", metavar="DATASET",
                                        help="Dataset folder to write (Minari format; load it with "
                                             "minari.MinariDataset('DATASET/data'))."),
        track: list[str] | None = typer.Option(
            None, "--track", metavar="TRACK",
            help="Track name, path, glob, 'generated' or 'random'; repeat for a pool. Default: the config's pool "
                 "(a line file: its own track)."),
        episodes: int = typer.Option(1, "--episodes", "-n", min=1, help="Episodes to record."),
        config: str = typer.Option("default", "--config", "-c", metavar="FILE|NAME",
                                   help="Config whose env is recorded (a model uses its run's config)."),
        sets: list[str] | None = typer.Option(None, "--set", metavar="KEY=VALUE", help="Override a config key."),
        seed: int = typer.Option(0, "--seed", help="Episode i is reset with seed + i."),
        max_steps: int | None = typer.Option(None, "--max-steps", min=1, help="Agent steps per episode at most."),
        start: str | None = typer.Option(None, "--start", metavar="WAYPOINT|random",
                                         help="Start waypoint (default: the config's)."),
        append: bool = typer.Option(False, "--append", help="Add episodes to an existing dataset of the same spaces."),
        info: Path | None = typer.Option(None, "--info", metavar="DATASET",
                                         help="Summarise DATASET (episodes, steps, tracks, laps) and exit."),
        as_json: bool = typer.Option(False, "--json", help="With --info: print the summary as JSON."),
    ) -> None:
        """Drive episodes and record them (observation, action, reward, car state per step) into a dataset."""
        if info is not None:
            if driver is not None or out is not None:
                fail("--info DATASET: summarises a dataset; it takes no --driver or --out", code=2)
            _print_info(info, as_json)
            return
        if driver is None or out is None:
            fail(f"record: {'--driver' if driver is None else '--out'} is required (or --info DATASET)", code=2)
        from racingline.record.recorder import check_dataset_path, parse_driver, record_dataset

        spec = parse_driver(driver)
        if spec.kind == "human":
            fail("--driver human: drive with `racingline drive --human --track T --record DATASET`", code=2)
        start_wp: int | str | None = None
        if start is not None:
            if start == "random":
                start_wp = "random"
            elif start.isdigit():
                start_wp = int(start)
            else:
                fail(f"--start {start!r}: expected a waypoint index or 'random'", code=2)
        check_dataset_path(out, append)
        done = [0]

        def on_episode(meta: dict) -> None:
            done[0] += 1
            lap = f"lap {meta['lap_time_s']:.2f} s" if meta.get("lap_complete") else \
                f"{meta.get('progress', 0.0):.1f}% ({meta.get('end')})"
            rev = " reversed" if meta.get("reversed") else ""
            typer.echo(f"episode {meta['id']}: {meta.get('track')}{rev} from waypoint {meta.get('start_waypoint')}: "
                       f"{lap}, {meta.get('steps')} steps", err=True)

        with StopSignals() as signals:
            try:
                result = record_dataset(spec, out, config=config, sets=sets or (), tracks=track, episodes=episodes,
                                        seed=seed, max_steps=max_steps, start_waypoint=start_wp, append=append,
                                        stop=signals.stop, on_episode=on_episode)
            except Interrupted as exc:  # a second signal: the writer kept every whole episode
                typer.echo(f"error: interrupted by {signal.Signals(exc.signum).name}: {out} holds the whole episodes "
                           "recorded so far", err=True)
                raise typer.Exit(exit_code(exc.signum)) from None
        rate = f"{result.steps_per_s:.0f} steps/s"
        summary = (f"{out}: {result.episodes} episodes ({result.steps} steps, {result.laps} laps) recorded in "
                   f"{result.seconds:.1f} s, {rate}; the dataset holds {result.total_episodes} episodes")
        if result.interrupted and signals.signum is not None:
            typer.echo(f"interrupted by {signal.Signals(signals.signum).name}: {summary}", err=True)
            raise typer.Exit(exit_code(signals.signum))
        typer.echo(summary)
