"""The sweep's searcher, scheduler and callback: Optuna's TPE sampler through Ray Tune's Optuna searcher, told
only the objective of evaluated trials; ASHA stopping trials early on their training progress; a callback
printing finished trials and stopping this machine's trainers on Ctrl-C.

Imports Ray and Optuna: import this module only once :func:`racingline.sweep.cluster.require_ray` passed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Any

import optuna
from ray.tune import Callback
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from racingline.sweep.folder import SweepFolder, trial_name

__all__ = ["FinalScoreOptunaSearch", "SweepCallback", "make_searcher", "make_scheduler", "trial_line", "SCORE",
           "PROGRESS", "TIME"]

#: The searcher's metric (the objective, reported once a trial is evaluated).
SCORE = "score"
#: The scheduler's metric: mean progress % of the last 100 training episodes, reported while training.
PROGRESS = "train_progress"
#: The scheduler's clock: env steps trained.
TIME = "timesteps"


class FinalScoreOptunaSearch(OptunaSearch):
    """Ray Tune's Optuna searcher told only each trial's final objective.

    The intermediate results a trial reports while it trains feed the early-stopping scheduler; they hold
    ``score: None`` (the objective needs an evaluation), which Optuna's per-step reports cannot take. A trial
    stopped early ends without a score and Optuna records it as pruned.
    """

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        return None


def make_searcher(seed: int) -> FinalScoreOptunaSearch:
    """The TPE searcher of a sweep (seeded), maximising :data:`SCORE`."""
    return FinalScoreOptunaSearch(metric=SCORE, mode="max", sampler=optuna.samplers.TPESampler(seed=int(seed)))


def make_scheduler(budget: int) -> ASHAScheduler:
    """ASHA over env steps: trials are compared on :data:`PROGRESS` at 1/4 and 1/2 of ``budget`` and the
    lower half stopped (reduction factor 2); a trial is never stopped before a quarter of its budget."""
    budget = max(int(budget), 4)
    return ASHAScheduler(time_attr=TIME, metric=PROGRESS, mode="max", max_t=budget, grace_period=max(1, budget // 4),
                         reduction_factor=2)


def trial_line(trial: Any) -> str:
    """One line about a finished trial (Tune's ``Trial``): its score, or why it has none."""
    r = dict(trial.last_result or {})
    name = trial_name(trial.trial_id)
    status = r.get("status")
    if status == "done":
        return (f"{name}: score {r.get('score'):.4f} ({r.get('laps_completed')}/{r.get('laps_attempted')} laps, "
                f"progress {r.get('mean_progress_pct') or 0:.0f}%) after {r.get('timesteps')} steps")
    if status in ("invalid", "failed"):
        return f"{name}: {status}: {r.get('message')}"
    return f"{name}: stopped early at {r.get('timesteps')} steps (training progress {r.get('train_progress') or 0:.1f}%)"


class SweepCallback(Callback):
    """The sweep's Ray Tune callback, in the driver: one line per finished trial on stderr, and Ctrl-C (or
    SIGTERM) first sends SIGTERM to the trainers running on this machine, so they save their models while Tune
    ends the run (Tune gives its trials' workers a few seconds before it kills them). Saved with the
    experiment, so a resumed sweep does the same."""

    def __init__(self, sweep_dir: str, lines: bool = True) -> None:
        self.sweep_dir = str(sweep_dir)
        self.lines = bool(lines)

    def setup(self, **info: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        tune_int = signal.getsignal(signal.SIGINT)  # Tune's: ends the run, saving its state
        previous_term = signal.getsignal(signal.SIGTERM)

        def on_int(signum: int, frame: Any) -> None:
            self.stop_trainers()
            if callable(tune_int):
                tune_int(signum, frame)

        def on_term(signum: int, frame: Any) -> None:
            self.stop_trainers()
            if callable(previous_term):
                previous_term(signum, frame)

        signal.signal(signal.SIGINT, on_int)
        signal.signal(signal.SIGTERM, on_term)

    def stop_trainers(self) -> None:
        """SIGTERM the trainers this machine runs (they save, then exit); returns at once."""
        for _, pid in SweepFolder(self.sweep_dir).running_trainers():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self.lines:
            print(trial_line(trial), file=sys.stderr, flush=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self.lines:
            print(f"{trial_name(trial.trial_id)}: error (see the Ray Tune logs)", file=sys.stderr, flush=True)
