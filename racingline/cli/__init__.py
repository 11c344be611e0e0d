"""The ``racingline`` command line: a Typer app and one thin module per command group.

:func:`main` is the console script. It makes Ctrl-C and SIGTERM clean before anything heavy is imported
(a signal then is one ``error:`` line and exit 130/143), then runs the app, whose root group keeps doing
so for every command (:class:`racingline.cli.common.OneLineErrorsGroup`).
"""

from __future__ import annotations

import signal
import sys

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    from racingline.signals import Interrupted, exit_code, raising

    try:
        with raising():
            from racingline.cli.commands import app

            app()
    except Interrupted as exc:
        sys.stderr.write(f"error: interrupted by {signal.Signals(exc.signum).name}\n")
        sys.exit(exit_code(exc.signum))


def __getattr__(name: str):
    if name == "app":
        from racingline.cli.commands import app

        return app
    raise AttributeError(f"module 'racingline.cli' has no attribute {name!r}")
