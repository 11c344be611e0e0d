"""The error types of racingline: each message names the input and the problem."""

from __future__ import annotations

__all__ = ["RacinglineError", "ConfigError", "ModelError", "RunError", "RewardError"]


class RacinglineError(Exception):
    """Base of every error racingline reports to users as one line (the CLI exits non-zero, no traceback)."""


class ConfigError(RacinglineError, ValueError):
    """A config file, key or value that cannot be used."""


class ModelError(RacinglineError, ValueError):
    """A saved model that cannot be loaded or does not fit the requested environment."""


class RunError(RacinglineError, ValueError):
    """A run folder that is missing or incomplete."""


class RewardError(RacinglineError, ValueError):
    """A reward file (``env.reward: path.py``) that cannot be loaded, or whose ``reward_function`` failed."""
