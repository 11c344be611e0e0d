"""The racingline Typer app: the root command group and the registration of every command module."""

from __future__ import annotations

import typer

from racingline import __version__
from racingline.cli import bench as cli_bench
from racingline.cli import drive as cli_drive
from racingline.cli import eval as cli_eval
from racingline.cli import record as cli_record
from racingline.cli import sweep as cli_sweep
from racingline.cli import train as cli_train
from racingline.cli.common import OneLineErrorsGroup
from racingline.cli.line import line_app
from racingline.cli.torcs import torcs_app
from racingline.cli.tracks import tracks_app

app = typer.Typer(
    name="racingline",
    cls=OneLineErrorsGroup,  # usage errors as one `error: ...` line (exit 2), like every other error
    help="Train RL agents to drive AWS DeepRacer tracks in Gymnasium's CarRacing, fast and headless.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cli_train.register(app)
cli_eval.register(app)
cli_bench.register(app)
cli_record.register(app)
cli_drive.register(app)
cli_sweep.register(app)
app.add_typer(tracks_app, name="tracks")
app.add_typer(line_app, name="line")
app.add_typer(torcs_app, name="torcs")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"racingline {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """racingline: DeepRacer tracks, CarRacing physics, PPO agents."""
