"""The layout of a sweep folder: settings, Ray Tune's experiment, one run folder per trial, results.

::

    sweep.yaml        what the sweep is: base config, search space, objective, trials (read by --resume)
    tune/             Ray Tune's experiment (Tuner.restore reads it); its own per-trial result logs
    runs/<trial>/     each trial's run folder (``racingline train``): model.zip, config.yaml, progress.csv,
                      checkpoints/, and eval.json (the evaluation the trial was scored on)
    trials/<trial>.yaml, trials/<trial>.log   the config each trial was started with, its training output
    results.csv       one row per trial: parameters, figures, score, status
    best.yaml         the best trial's resolved config (``racingline train --config best.yaml``)
    objective.png     the objective over trials
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

__all__ = ["SweepFolder", "trial_name"]


def trial_name(trial_id: str) -> str:
    """The name of a trial's run folder and log: ``trial_<Ray Tune's trial id>``."""
    return f"trial_{trial_id}"


class SweepFolder:
    """Paths inside a sweep folder (nothing is created by naming them)."""

    SETTINGS_FILE = "sweep.yaml"
    TUNE_DIR = "tune"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path).expanduser().absolute()

    @property
    def settings(self) -> Path:
        return self.path / self.SETTINGS_FILE

    @property
    def tune(self) -> Path:
        return self.path / self.TUNE_DIR

    @property
    def runs(self) -> Path:
        return self.path / "runs"

    @property
    def trials(self) -> Path:
        return self.path / "trials"

    @property
    def results_csv(self) -> Path:
        return self.path / "results.csv"

    @property
    def best_config(self) -> Path:
        return self.path / "best.yaml"

    @property
    def plot(self) -> Path:
        return self.path / "objective.png"

    def run(self, name: str) -> Path:
        """A trial's run folder."""
        return self.runs / name

    def trial_config(self, name: str) -> Path:
        return self.trials / f"{name}.yaml"

    def trial_log(self, name: str) -> Path:
        return self.trials / f"{name}.log"

    def trial_pid(self, name: str) -> Path:
        """While a trial's trainer runs: ``<host> <pid>`` of that process (the sweep waits for it at the end)."""
        return self.trials / f"{name}.pid"

    def running_trainers(self) -> list[tuple[Path, int]]:
        """(pid file, pid) of this sweep's trainers running on this machine. A pid file whose process is gone,
        or is no longer this trial's trainer (a pid used again after a crash), is removed, never signalled."""
        out = []
        host = socket.gethostname()
        if self.trials.is_dir():
            for p in sorted(self.trials.glob("*.pid")):
                try:
                    where, pid = p.read_text(encoding="utf-8").split()
                except (OSError, ValueError):
                    continue
                if where != host:
                    continue
                if pid.isdigit() and _is_trainer(int(pid), self.run(p.stem)):
                    out.append((p, int(pid)))
                else:
                    with contextlib.suppress(OSError):
                        p.unlink()
        return out


def _is_trainer(pid: int, run: Path) -> bool:
    """Whether process ``pid`` is a live sweep trainer of the run folder ``run`` (Linux: read from /proc)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z" and b"racingline.sweep.trainer" in cmdline \
        and os.fsencode(str(run)) in cmdline
