"""One sweep trial: train a normal run folder in a ``racingline train`` process, report its training progress
(for early stopping), then evaluate it on the held-out tracks and report the objective.

:class:`TrialRunner` is plain Python; :class:`racingline.sweep.trainable.SweepTrial` runs it as Ray Tune's
trainable in a Ray worker. The trial trains in its own ``racingline train`` process
(:mod:`racingline.sweep.trainer`), so a trial is exactly what a user would run: its run folder is resumable with
``racingline train --resume`` and readable by ``racingline eval``. While it trains, the rows ``racingline train``
appends to the run's ``progress.csv`` (one per PPO iteration) become results every ``report_every`` env steps:
``timesteps`` and ``train_progress`` (mean progress % of the last 100 training episodes), which the early-stopping
scheduler compares across trials. Stopping a trial (:meth:`TrialRunner.stop`: the scheduler's decision, or the
end of the sweep) sends the trainer SIGTERM; it saves its model and exits. A trial started again by ``racingline
sweep --resume`` continues its run folder from its newest save. Every result holds ``score``: ``None`` until the
evaluation, then the objective (:mod:`racingline.sweep.objective`).
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from racingline.errors import ConfigError, RacinglineError
from racingline.sweep.folder import SweepFolder
from racingline.sweep.objective import score
from racingline.sweep.space import SearchSpace
from racingline.train.config import Config, apply_overrides, save_config

__all__ = ["TrialSettings", "TrialRunner", "ProgressTail", "RESULT_KEYS", "SUMMARY_KEYS"]

#: Figures of the evaluation reported with the final result (those of ``EvalReport.summary()``).
SUMMARY_KEYS = ("laps_completed", "laps_attempted", "median_lap_time_s", "median_line_ratio", "mean_progress_pct",
                "mean_reward", "off_track_count")
#: Keys every result holds (the scheduler's and the searcher's metrics among them).
RESULT_KEYS = ("timesteps", "train_progress", "score", "status")
#: Seconds between looks at a training run's progress.csv.
_POLL_S = 0.5
#: Seconds a stopped trainer gets to save its model before it is killed.
_SAVE_GRACE_S = 120.0
#: Exit codes of a trainer stopped by a signal from outside the trial (the sweep's Ctrl-C reaches it first).
_SIGNALLED = {128 + signal.SIGINT, 128 + signal.SIGTERM, -signal.SIGINT, -signal.SIGTERM}
#: Seconds a trial whose trainer was stopped from outside waits to be stopped itself before calling it failed.
_OUTSIDE_STOP_WAIT_S = 60.0


@dataclass(frozen=True)
class TrialSettings:
    """What every trial of a sweep shares (sent to the Ray workers once).

    Attributes:
        base: the base config the sampled values override.
        space: the search space (decodes the sampled values).
        objective: one of :data:`racingline.choices.SWEEP_OBJECTIVES`.
        sweep_dir: the sweep folder (absolute; on a cluster, a folder every node sees at this path).
        budget: the most env steps a trial trains (the scheduler's horizon).
        report_every: env steps between reports of training progress.
        eval_tracks: the held-out tracks, loaded (:class:`~racingline.Track` or ``"random"``).
        line_gap: score lap times against the best racing line driven on each track.
    """

    base: Config
    space: SearchSpace
    objective: str
    sweep_dir: Path
    budget: int
    report_every: int
    eval_tracks: tuple[Any, ...]
    line_gap: bool = False


def result(status: str, timesteps: int = 0, train_progress: float = 0.0, **extra: Any) -> dict[str, Any]:
    """A result dict with every key of :data:`RESULT_KEYS` (``score`` ``None``)."""
    return {"timesteps": int(timesteps), "train_progress": float(train_progress), "score": None, "status": status,
            **extra}


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


class ProgressTail:
    """New complete rows of a growing ``progress.csv`` (as dicts), from where it ended when made."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.header: list[str] | None = None
        self.last: dict[str, str] | None = None
        self.rows()  # rows written before (a resumed run): skipped, the last one kept

    def rows(self) -> list[dict[str, str]]:
        """The rows completed since the last call."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self.offset += end
        lines = list(csv.reader(io.StringIO(data[:end].decode("utf-8", errors="replace"))))
        if self.header is None and lines:
            self.header, lines = lines[0], lines[1:]
        out = [dict(zip(self.header or [], line)) for line in lines if line]
        if out:
            self.last = out[-1]
        return out


def _steps(row: dict[str, str] | None) -> int:
    return int(_number((row or {}).get("timesteps")) or 0)


def _progress(row: dict[str, str] | None) -> float:
    return _number((row or {}).get("ep_progress_mean")) or 0.0


def _saved_steps(run: Path) -> int | None:
    """Env steps saved in the run folder ``run`` (``None``: no run there; a run with nothing saved is removed)."""
    from racingline.train.runs import RunFolder

    folder = RunFolder(run)
    if not folder.config.is_file():
        return None
    try:
        return folder.resume_point()[2]
    except RacinglineError:  # made, but stopped before its first save: start it again
        folder.remove()
        return None


def _last_error(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no training output"
    errors = [ln for ln in lines if ln.startswith("error:")]
    return (errors or lines or ["no training output"])[-1].removeprefix("error: ")


def _preload(*modules: str) -> None:
    for name in modules:
        importlib.import_module(name)


class TrialRunner:
    """One trial, driven by its trainable: :meth:`start`, then :meth:`next_result` until a result says
    ``done``; :meth:`stop` whenever the trial must end (it waits for the trainer to save).

    ``name``: the trial's name (its run folder ``runs/<name>``); ``params``: the sampled values, as Ray Tune
    gives them (config key -> value).
    """

    def __init__(self, settings: TrialSettings, name: str, params: dict[str, Any]) -> None:
        self.settings = settings
        self.name = name
        self.params = dict(params)
        self.folder = SweepFolder(settings.sweep_dir)
        self.run = self.folder.run(name)
        self.cfg: Config | None = None
        self.proc: subprocess.Popen | None = None
        self.tail: ProgressTail | None = None
        self.due = 0
        self.final: dict[str, Any] | None = None
        self.outside_stop_since: float | None = None

    # ------------------------------------------------------------------------------------------ start
    def start(self) -> None:
        """Resolve the trial's config and start (or resume) its training; nothing to train: evaluate next."""
        s = self.settings
        try:
            self.cfg = apply_overrides(s.base, s.space.overrides(self.params))
        except ConfigError as exc:  # values that break a rule between keys (e.g. batch_size > n_steps x n_envs)
            self.final = result("invalid", message=str(exc).removeprefix("--set: "))
            return
        self.folder.trials.mkdir(parents=True, exist_ok=True)
        done = _saved_steps(self.run)
        if done is not None and done >= self.cfg.total_timesteps:
            return  # trained already (a resumed sweep): evaluate
        if done is None:
            save_config(self.cfg, self.folder.trial_config(self.name))
            args = ["train", "--config", str(self.folder.trial_config(self.name)), "--run-dir", str(self.run),
                    "--no-progress"]
        else:
            args = ["train", "--resume", str(self.run), "--no-progress"]
        self.tail = ProgressTail(self.run / "progress.csv")
        self.due = _steps(self.tail.last) + s.report_every
        cmd = [sys.executable, "-m", "racingline.sweep.trainer", str(os.getpid()), *args]
        env = {**os.environ, "SDL_VIDEODRIVER": os.environ.get("SDL_VIDEODRIVER", "dummy"),
               "SDL_AUDIODRIVER": os.environ.get("SDL_AUDIODRIVER", "dummy")}
        with open(self.folder.trial_log(self.name), "ab") as out:
            # Its own session: a terminal's Ctrl-C reaches the sweep, which stops the trainers itself.
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=self.folder.path, env=env, start_new_session=True)
        self.folder.trial_pid(self.name).write_text(f"{socket.gethostname()} {self.proc.pid}\n", encoding="utf-8")
        # The evaluation's imports (torch, Stable-Baselines3) load while the trainer trains, not after.
        threading.Thread(target=_preload, args=("racingline.evaluate.rollouts", "stable_baselines3"), daemon=True).start()

    # ------------------------------------------------------------------------------------------ results
    def next_result(self) -> dict[str, Any]:
        """Block until the next result: training progress when a report is due, else the final result
        (``done: True``) once training ended and the run was evaluated (or failed)."""
        if self.final is not None:
            return {**self.final, "done": True}
        if self.proc is None:  # nothing to train
            self.final = self._evaluate(None)
            return {**self.final, "done": True}
        while True:
            code = self.proc.poll()
            for row in self.tail.rows():
                steps = _steps(row)
                if steps >= self.due and steps < self.settings.budget:
                    self.due = steps + self.settings.report_every
                    return {**result("training", steps, _progress(row)), "train_lap_rate": _number(row.get("lap_rate")),
                            "train_reward": _number(row.get("ep_rew_mean"))}
            if code is not None:
                break
            time.sleep(_POLL_S)
        self._forget_pid()
        if code in _SIGNALLED:  # stopped from outside (the sweep is ending): let the stop reach this trial
            if self.outside_stop_since is None:
                self.outside_stop_since = time.monotonic()
            if time.monotonic() - self.outside_stop_since < _OUTSIDE_STOP_WAIT_S:
                time.sleep(2.0)
                return result("training", _steps(self.tail.last), _progress(self.tail.last))
        if code != 0:
            self.final = result("failed", _steps(self.tail.last), _progress(self.tail.last),
                                message=_last_error(self.folder.trial_log(self.name)))
        else:
            self.final = self._evaluate(self.tail.last)
        return {**self.final, "done": True}

    def _evaluate(self, last: dict[str, str] | None) -> dict[str, Any]:
        from racingline.evaluate.rollouts import evaluate
        from racingline.io import atomic_write_text
        from racingline.train.runs import RunFolder

        if last is None:
            last = ProgressTail(self.run / "progress.csv").last
        steps = RunFolder(self.run).resume_point()[2]
        s, cfg = self.settings, self.cfg
        try:
            report = evaluate(self.run, list(s.eval_tracks), episodes=cfg.eval.episodes, max_steps=cfg.eval.max_steps,
                              line_gap=s.line_gap)
        except RacinglineError as exc:
            return result("failed", steps, _progress(last), message=f"evaluation: {exc}")
        atomic_write_text(self.run / "eval.json", json.dumps(report.to_dict(), indent=2) + "\n")
        summary = report.summary()
        out = result("done", steps, _progress(last), **{k: summary.get(k) for k in SUMMARY_KEYS})
        out["score"] = score(summary, s.objective)
        return out

    # ------------------------------------------------------------------------------------------ stop
    def stop(self) -> None:
        """End the trainer, if it runs: SIGTERM (it saves its model, then exits), killed after a grace period."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=_SAVE_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._forget_pid()

    def _forget_pid(self) -> None:
        with contextlib.suppress(OSError):
            self.folder.trial_pid(self.name).unlink()
