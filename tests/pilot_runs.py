"""A lapping stand-in for a trained run: a loaded run whose "model" drives with pure pursuit.

The tiny trained run (``features_run``) never laps; a scripted pilot with the run's spaces does, in the real
simulator and through the real evaluation stack (``make_eval_env``: the run's wrappers and statistics). The
pilot reads the car state of the env the evaluation builds, so ``make_eval_env`` is wrapped to hand it over.
"""

from __future__ import annotations

import numpy as np

from racingline.train.runs import LoadedRun, load_run


class Pilot:
    """Pure pursuit at ``speed_mps`` (discrete actions), acting on the env it is given."""

    def __init__(self, observation_space, action_space, speed_mps: float = 2.0):
        from racingline.lines.controllers import PurePursuit

        self.observation_space = observation_space
        self.action_space = action_space
        self.driver = PurePursuit(lookahead_m=1.0, target_speed_mps=speed_mps)
        self.env = None

    def predict(self, obs, deterministic=True):
        return np.array([self.driver.discrete(self.env)]), None


def pilot_run(run_dir, monkeypatch, speed_mps: float = 2.0) -> LoadedRun:
    """``run_dir`` (a discrete-action features run) loaded, its model replaced by a :class:`Pilot`."""
    import racingline.evaluate.rollouts as evaluation

    real = load_run(run_dir)
    pilot = Pilot(real.model.observation_space, real.model.action_space, speed_mps)
    original = evaluation.make_eval_env

    def make_and_attach(*args, **kwargs):
        venv = original(*args, **kwargs)
        pilot.env = venv.unwrapped.envs[0].unwrapped
        return venv

    monkeypatch.setattr(evaluation, "make_eval_env", make_and_attach)
    return LoadedRun(model_path=real.model_path, run_dir=real.run_dir, config=real.config,
                     stats_path=real.stats_path, model=pilot)
