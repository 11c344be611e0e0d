"""The ``racingline`` command line: a Typer app and one thin module per command group."""

from racingline.cli.app import app, main

__all__ = ["app", "main"]
