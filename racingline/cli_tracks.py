"""``racingline tracks ...``: the track library commands (list, download, show, generate)."""

from __future__ import annotations

import typer

tracks_app = typer.Typer(help="Track library: list, download, show and generate DeepRacer tracks.",
                         no_args_is_help=True)
