"""``racingline eval``, ``plot-trajectories`` and ``gif``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the evaluation and picture commands to ``app``."""
