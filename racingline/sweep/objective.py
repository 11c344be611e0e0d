"""A sweep's objective: one number, higher is better, from the evaluation of a trial on the held-out tracks.

* ``laps`` (the default): laps completed first, then speed. ``score = laps + speed`` with ``speed`` in
  [0, 1), so one more lap always outranks any speed: with a completed lap, ``0.5 + 0.49 / max(r, 1)`` where
  ``r`` is the median lap-time ratio to the best racing line when one was driven (``eval --line-gap``),
  else ``0.5 + 0.49 * 30 / (30 + t)`` with ``t`` the median lap time in seconds; without a lap,
  ``0.49 * mean progress / 100``, so a policy that drives further ranks higher.
* ``progress``: the mean progress of the episodes, in percent of a lap.
* ``reward``: the mean episode reward (of the run's own reward).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from racingline.choices import SWEEP_OBJECTIVES
from racingline.errors import ConfigError

__all__ = ["score", "check_objective", "OBJECTIVE_HELP"]

#: One line per objective, for help texts.
OBJECTIVE_HELP = ("laps: laps completed on the held-out tracks, then lap time (the lap-time ratio to the best racing "
                  "line when driven); progress: mean progress %; reward: mean episode reward")


def check_objective(objective: str) -> str:
    """``objective`` when it is one of :data:`racingline.choices.SWEEP_OBJECTIVES`, else a one-line ConfigError."""
    if objective not in SWEEP_OBJECTIVES:
        raise ConfigError(f"objective {objective!r}: choose one of {', '.join(SWEEP_OBJECTIVES)}")
    return objective


def score(summary: Mapping[str, Any], objective: str = "laps") -> float:
    """The objective of an evaluation ``summary`` (:meth:`racingline.evaluate.results.EvalReport.summary`)."""
    check_objective(objective)
    if objective == "progress":
        return float(summary["mean_progress_pct"])
    if objective == "reward":
        return float(summary["mean_reward"])
    laps = int(summary["laps_completed"])
    if laps == 0:
        return 0.49 * min(max(float(summary["mean_progress_pct"]), 0.0), 100.0) / 100.0
    ratio = summary.get("median_line_ratio")
    if ratio is not None:
        return laps + 0.5 + 0.49 / max(float(ratio), 1.0)
    lap_time_s = max(float(summary["median_lap_time_s"]), 0.0)
    return laps + 0.5 + 0.49 * 30.0 / (30.0 + lap_time_s)
