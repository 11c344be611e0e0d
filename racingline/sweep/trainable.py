"""Ray Tune's trainable of a sweep: a :class:`~racingline.sweep.trial.TrialRunner` in a Ray worker.

A class trainable, so that stopping a trial (Tune calls :meth:`SweepTrial.cleanup` when the scheduler stops it
early) waits for its trainer to save its model before the worker goes. Imports Ray: import this module only
once :func:`racingline.sweep.cluster.require_ray` passed.
"""

from __future__ import annotations

from typing import Any

from ray import tune

from racingline.sweep.folder import trial_name
from racingline.sweep.trial import TrialRunner, TrialSettings

__all__ = ["SweepTrial"]


class SweepTrial(tune.Trainable):
    """One trial: ``setup`` starts its training, each ``step`` returns its next result, ``cleanup`` stops it."""

    def setup(self, config: dict[str, Any], settings: TrialSettings) -> None:
        self.runner = TrialRunner(settings, trial_name(self.trial_id), config)
        self.runner.start()

    def step(self) -> dict[str, Any]:
        return self.runner.next_result()

    def cleanup(self) -> None:
        self.runner.stop()

    def save_checkpoint(self, checkpoint_dir: str) -> dict[str, Any]:
        """The trial's real checkpoint is its run folder (``racingline train`` saves there); Tune gets its path."""
        return {"run": str(self.runner.run)}

    def load_checkpoint(self, checkpoint: dict[str, Any] | str) -> None:
        """Nothing to load: :meth:`setup` resumes the run folder from its newest save."""
