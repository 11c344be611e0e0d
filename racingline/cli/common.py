"""Shared CLI plumbing: every error is one ``error: ...`` line on stderr and a non-zero exit.

* :func:`fail` / :func:`reports_errors`: racingline errors (exit 1).
* :class:`OneLineErrorsGroup`: click usage errors (bad option values, unknown options, missing
  arguments, unknown commands) as one line and exit 2, instead of Typer's boxed usage message.
* :func:`check_output` / :func:`check_output_dir`: the outputs a command will write, checked before it works.
* :func:`apply_sets`: ``--set section.key=value`` applied to a loaded run's config (commands that run an env).
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import typer
from typer.core import TyperGroup

from racingline.errors import RacinglineError
from racingline.signals import Interrupted, exit_code, raising

__all__ = ["OneLineErrorsGroup", "SET_HELP", "apply_sets", "check_output", "check_output_dir", "fail",
           "one_line", "reports_errors"]

F = TypeVar("F", bound=Callable[..., Any])

#: ``--set`` help of the commands that drive a trained run.
SET_HELP = ("Override a key of the run's config for this command, as train's --set does, e.g. "
            "--set env.max_episode_steps=2000 --set env.terminate_on_off_track=true (repeatable). env.* keys "
            "shape the environment; they must still fit the model (same observations and actions).")

def _click_exception(name: str) -> type[Exception]:
    """click's exception class ``name``, found from Typer's public ``BadParameter`` (a subclass of it), so
    the same code serves Typer with its own copy of click and older Typer that uses click itself."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)


_UsageError = _click_exception("UsageError")
_ClickException = _click_exception("ClickException")


def one_line(message: object) -> str:
    """``message`` with every run of whitespace (newlines included) turned into one space."""
    return " ".join(str(message).split())


def fail(message: str, code: int = 1) -> None:
    """Print ``error: message`` on stderr (one line) and exit with ``code``."""
    typer.echo(f"error: {one_line(str(message))}", err=True)
    raise typer.Exit(code)


def reports_errors(fn: F) -> F:
    """Decorator for commands: a :class:`RacinglineError` (or a missing file) becomes one line and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RacinglineError as exc:
            fail(str(exc))
        except FileNotFoundError as exc:
            fail(f"{exc.filename}: no such file or directory")

    return wrapper  # type: ignore[return-value]


class OneLineErrorsGroup(TyperGroup):
    """The root command group: click's usage errors become ``error: <message>`` on one line (exit 2).

    Typer prints them as a usage line, a hint and a boxed message; scripts and users reading logs get
    one line like every other racingline error. ``--help``, ``--version`` and a bare command (which
    shows its help) are unchanged. The handling lives in :meth:`main`, which both the console script and
    ``typer.testing.CliRunner`` call.
    """

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            with raising():  # Ctrl-C and SIGTERM raise Interrupted, which Typer does not swallow
                rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except Interrupted as exc:
            typer.echo(f"error: interrupted by {signal.Signals(exc.signum).name}", err=True)
            sys.exit(exit_code(exc.signum))
        except _UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help (already printed by rich)
                if exc.format_message().strip():
                    exc.show()
                sys.exit(exc.exit_code)
            ctx = exc.ctx
            where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            message = one_line(exc.format_message())
            typer.echo(f"error: {message[:-1] if message.endswith('.') else message}{where}", err=True)
            sys.exit(exc.exit_code)
        except _ClickException as exc:
            typer.echo(f"error: {one_line(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        # Not standalone, click returns a command's value, or the code of a typer.Exit (also --help's 0).
        sys.exit(rv if isinstance(rv, int) else 0)


# ---------------------------------------------------------------------------------------------- outputs
def check_output(path: str | os.PathLike | None, what: str) -> Path | None:
    """Check before any work that the file option ``what`` (e.g. ``--json``; ``""`` for a default path the
    user did not type) can be written at ``path``.

    ``None`` (option not given) passes. Raises :class:`racingline.io.OutputError` naming the path.
    """
    if path is None:
        return None
    from racingline.io import check_writable

    return check_writable(path, what=what)


def check_output_dir(path: str | os.PathLike | None, what: str) -> Path | None:
    """Check before any work that files can be written in the folder option ``what`` (made if missing)."""
    if path is None:
        return None
    from racingline.io import check_writable_dir

    return check_writable_dir(path, what=what)


# ---------------------------------------------------------------------------------------------- --set
def apply_sets(run: Any, sets: Sequence[str] | None) -> Any:
    """``run`` (a :class:`racingline.train.runs.LoadedRun`) with ``--set key=value`` overrides applied to its config.

    Same syntax and validation as train's ``--set`` (:func:`racingline.train.config.apply_overrides`);
    a bad key or value is a one-line :class:`racingline.errors.ConfigError`.
    """
    if not sets:
        return run
    import dataclasses

    from racingline.train.config import apply_overrides

    return dataclasses.replace(run, config=apply_overrides(run.config, list(sets)))
