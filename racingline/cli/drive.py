"""``racingline drive --human``: drive a track yourself with the keyboard, optionally recording a dataset."""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from racingline.cli.common import fail, reports_errors
from racingline.signals import StopSignals, exit_code


def register(app: typer.Typer) -> None:
    """Add ``drive`` to ``app``."""

    @app.command("drive")
    @reports_errors
    def drive(
        human: bool = typer.Option(
            False, "--human",
            help="You drive, in a window: arrow keys or WASD steer, throttle and brake; R restarts, Esc quits."),
        track: list[str] | None = typer.Option(
            None, "--track", metavar="TRACK",
            help="Track name, path, glob, 'generated' or 'random'; repeat for a pool (one drawn per episode). "
                 "Default: the config's pool."),
        config: str = typer.Option("default", "--config", "-c", metavar="FILE|NAME",
                                   help="Config whose env is driven (observations, actions, episode rules)."),
        sets: list[str] | None = typer.Option(
            None, "--set", metavar="KEY=VALUE",
            help="Override a config key, e.g. --set env.start_waypoint=0 --set env.max_episode_steps=3000 "
                 "(repeatable)."),
        record: Path | None = typer.Option(
            None, "--record", metavar="DATASET",
            help="Record every episode (observations, actions, rewards, car state) into this Minari dataset "
                 "folder; an episode cut short by R or Esc is kept as it stands (see `racingline record --info`)."),
        record_append: bool = typer.Option(False, "--record-append", help="With --record: add to an existing dataset."),
        seed: int = typer.Option(0, "--seed", help="Seed of the first episode (track, start and direction draws)."),
    ) -> None:
        """Drive a track yourself in a window, at the simulator's real-time pace; Esc quits."""
        if not human:
            fail("drive: give --human to drive with the keyboard (racingline drive --human --track TRACK)", code=2)
        if record_append and record is None:
            fail("--record-append: needs --record DATASET", code=2)
        from racingline.record import human as hm
        from racingline.record.recorder import check_dataset_path

        hm.check_display()
        cfg = hm.human_config(config, sets or (), track)
        if record is not None:
            check_dataset_path(record, record_append, what="--record")
        with StopSignals() as signals:  # Ctrl-C or SIGTERM: like Esc, keeps the episode driven so far
            env = hm.make_human_env(cfg, record=record, append=record_append)
            try:
                screen = hm.open_window(f"racingline: {', '.join(track) if track else cfg.name}")
                result = hm.drive_human(env, screen=screen, seed=seed, stop=signals.stop)
            finally:
                env.close()
                hm.close_window()
        best = f", best lap {result.best_lap_s:.2f} s" if result.best_lap_s is not None else ""
        summary = f"drove {result.episodes} episodes ({result.steps} steps, {result.laps} laps{best})"
        if record is not None:
            held = result.dataset_episodes if result.dataset_episodes is not None else 0
            summary += (f"; recorded {result.written} episodes into {record} (it holds {held})" if result.written
                        else f"; nothing recorded into {record}")
        if signals.signum is not None:
            typer.echo(f"interrupted by {signal.Signals(signals.signum).name}: {summary}", err=True)
            raise typer.Exit(exit_code(signals.signum))
        typer.echo(summary)
