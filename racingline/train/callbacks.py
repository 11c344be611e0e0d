"""Training callbacks and Ctrl-C: progress.csv rows, checkpoints, a rich progress bar, SIGINT as a stop event.

Each callback is a module-level ``BaseCallback`` that can be used (and tested) on its own:

* :class:`ProgressCsvCallback` writes one ``progress.csv`` row per PPO iteration (see ``PROGRESS_COLUMNS``);
* :class:`CheckpointCallback` saves a checkpoint every ``checkpoint_every`` env steps;
* :class:`ProgressBarCallback` moves a :class:`ProgressBar` along;
* :class:`StopOnEventCallback` stops training once an event is set (SIGINT/SIGTERM set it, see
  :class:`racingline.signals.StopSignals`).

:func:`make_callbacks` assembles them for :func:`racingline.train.training.train`. Where files go is the
:class:`~racingline.train.runs.RunFolder`'s business; models and their statistics are written atomically.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

from racingline.train.runs import RunFolder

__all__ = [
    "PROGRESS_COLUMNS",
    "ProgressBar",
    "ProgressCsvCallback",
    "CheckpointCallback",
    "ProgressBarCallback",
    "StopOnEventCallback",
    "SimTraceCallback",
    "make_callbacks",
    "save_model",
]

#: Columns of progress.csv. ``time_s`` is training wall time (summed over resumed sessions);
#: ``steps_per_s`` the rate of that iteration; ``ep_*``/``lap_rate`` are over the last 100 episodes;
#: the train/* losses are those of the update that ended the iteration.
PROGRESS_COLUMNS = (
    "timesteps", "time_s", "steps_per_s", "episodes", "ep_rew_mean", "ep_len_mean", "ep_progress_mean", "lap_rate",
    "learning_rate", "loss", "policy_gradient_loss", "value_loss", "entropy_loss", "approx_kl", "clip_fraction",
    "explained_variance",
)


def save_model(model, venv, model_path: str | os.PathLike) -> None:
    """Save a model and its statistics, each atomically (:meth:`RunFolder.save` into the model's folder)."""
    RunFolder(Path(model_path).parent).save(model, venv, model_path)


def _episode_stats(buffer) -> dict[str, float | int | str]:
    if not buffer:
        return {"ep_rew_mean": "", "ep_len_mean": "", "ep_progress_mean": "", "lap_rate": ""}
    eps = list(buffer)

    def mean(key: str) -> float | str:
        vals = [float(e[key]) for e in eps if key in e]
        return float(np.mean(vals)) if vals else ""

    return {"ep_rew_mean": mean("r"), "ep_len_mean": mean("l"), "ep_progress_mean": mean("progress"),
            "lap_rate": mean("lap_complete")}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


class ProgressCsvCallback(BaseCallback):
    """Appends one row per PPO iteration (rollout + update) to the run's ``progress.csv``.

    The columns are ``PROGRESS_COLUMNS``. A row is written once its iteration's update is done (at the start
    of the next rollout, or at the end of training), so it holds that update's losses. A fresh file gets the
    header; an existing one (a resumed run) is appended to, continuing its wall time (``time_s``) and
    episode count. After each rollout the episode statistics also go to SB3's logger
    (``rollout/ep_progress_mean``, ``rollout/lap_rate``) and, when given, to ``bar``.
    """

    def __init__(self, run: RunFolder | str | os.PathLike, bar: ProgressBar | None = None) -> None:
        super().__init__()
        self.run = run if isinstance(run, RunFolder) else RunFolder(run)
        self.path = self.run.progress
        self.bar = bar
        self.pending: dict[str, Any] | None = None
        self.episodes = 0

    def _on_training_start(self) -> None:
        offset = 0.0
        if self.path.is_file():
            with open(self.path, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
            if rows:
                with contextlib.suppress(KeyError, ValueError):
                    offset = float(rows[-1]["time_s"])
                    self.episodes = int(rows[-1]["episodes"])
        else:
            with open(self.path, "w", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerow(PROGRESS_COLUMNS)
        self.t0 = time.monotonic() - offset
        self.prev = (self.num_timesteps, offset)

    def _on_step(self) -> bool:
        self.episodes += int(np.sum(self.locals.get("dones", 0)))
        return True

    def _on_rollout_start(self) -> None:
        self._flush()

    def _on_rollout_end(self) -> None:
        now = time.monotonic() - self.t0
        stats = _episode_stats(self.model.ep_info_buffer)
        for key in ("ep_progress_mean", "lap_rate"):
            if stats[key] != "":
                self.logger.record(f"rollout/{key}", stats[key])
        steps, t = self.prev
        rate = (self.num_timesteps - steps) / (now - t) if now > t else ""
        self.prev = (self.num_timesteps, now)
        self.pending = {"timesteps": self.num_timesteps, "time_s": now, "steps_per_s": rate,
                        "episodes": self.episodes, **stats}
        if self.bar is not None:
            self.bar.stats(rate, stats["ep_rew_mean"], stats["ep_progress_mean"])

    def _on_training_end(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if self.pending is None:
            return
        logged = self.model.logger.name_to_value
        row = {**self.pending, "learning_rate": logged.get("train/learning_rate", "")}
        for col in PROGRESS_COLUMNS[9:]:
            row[col] = logged.get(f"train/{col}", "")
        with open(self.path, "a", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerow([_fmt(row[c]) for c in PROGRESS_COLUMNS])
        self.pending = None


class CheckpointCallback(BaseCallback):
    """Saves a checkpoint (model and ``VecNormalize`` statistics) every ``every`` env steps; 0: never.

    Checkpoints go where the run folder says (``checkpoints/step_<N>.zip``, :meth:`RunFolder.checkpoint`),
    named by the step count at which they were taken: the first step count at or past each multiple of
    ``every`` (with several envs the count moves ``n_envs`` at a time). A resumed training continues from
    the next multiple after its starting count. The statistics are those of ``model.get_vec_normalize_env()``.
    """

    def __init__(self, run: RunFolder | str | os.PathLike, every: int) -> None:
        super().__init__()
        if int(every) < 0:
            raise ValueError(f"every={every}: must be 0 (no checkpoints) or a positive number of steps")
        self.run = run if isinstance(run, RunFolder) else RunFolder(run)
        self.every = int(every)
        self.next: float = math.inf

    def _on_training_start(self) -> None:
        self.next = (self.num_timesteps // self.every + 1) * self.every if self.every else math.inf

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next:
            self.run.save_checkpoint(self.model, self.model.get_vec_normalize_env())
            self.next = (self.num_timesteps // self.every + 1) * self.every
        return True


class ProgressBarCallback(BaseCallback):
    """Moves a :class:`ProgressBar` to the current step count after every env step (it redraws at most 10x/s)."""

    def __init__(self, bar: ProgressBar) -> None:
        super().__init__()
        self.bar = bar

    def _on_step(self) -> bool:
        self.bar.step(self.num_timesteps)
        return True


class StopOnEventCallback(BaseCallback):
    """Stops training after the current env step once ``stop`` is set (a signal sets it:
    :class:`racingline.signals.StopSignals`).

    ``PPO.learn`` then returns normally, without an update on the partial rollout, so the caller can save.
    """

    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self.stop = stop

    def _on_step(self) -> bool:
        return not self.stop.is_set()


class SimTraceCallback(BaseCallback):
    """Writes DeepRacer simulation-trace CSV logs of every env's episodes (:mod:`racingline.deepracer.simtrace`).

    Fed in the training process from what SB3 returns each step (each env's ``info``, its unnormalised
    reward from ``VecNormalize``, the actions, and the reset ``info`` after an automatic reset), so one
    writer owns every file and workers write nothing. Files go to ``trace_dir``
    (``<run>/sim-trace/training/racingline/training-simtrace/``); a resumed run continues the numbering.
    Episodes still running when training ends are not written.
    """

    def __init__(self, trace_dir: str | os.PathLike, episodes_per_file: int | None = None) -> None:
        super().__init__()
        self.trace_dir = Path(trace_dir)
        self.episodes_per_file = episodes_per_file
        self.writer = None

    def _on_training_start(self) -> None:
        from gymnasium import spaces

        from racingline.deepracer.simtrace import EPISODES_PER_FILE, SimTraceWriter, next_iteration, vec_reset_infos

        env = self.training_env
        self.discrete = isinstance(self.model.action_space, spaces.Discrete)
        self.writer = SimTraceWriter(self.trace_dir, n_envs=env.num_envs,
                                     episodes_per_file=self.episodes_per_file or EPISODES_PER_FILE,
                                     first_iteration=next_iteration(self.trace_dir), pad_first_file=True)
        self._reset_infos = vec_reset_infos
        for i, info in enumerate(vec_reset_infos(env)):
            if "position_m" in info:
                self.writer.reset(i, info)

    def _on_step(self) -> bool:
        env = self.training_env
        infos = self.locals["infos"]
        dones = self.locals["dones"]
        get_original = getattr(env, "get_original_reward", None)
        rewards = get_original() if get_original is not None else self.locals["rewards"]
        actions = np.asarray(self.locals["actions"]).reshape(len(infos), -1)
        resets = None
        for i, info in enumerate(infos):
            done = bool(dones[i])
            self.writer.step(i, info, float(rewards[i]), int(actions[i, 0]) if self.discrete else None, done)
            if done:
                resets = self._reset_infos(env) if resets is None else resets
                if "position_m" in resets[i]:
                    self.writer.reset(i, resets[i])
        return True

    def _on_training_end(self) -> None:
        if self.writer is not None:
            self.writer.close()


def make_callbacks(run: RunFolder | str | os.PathLike, checkpoint_every: int, stop: threading.Event,
                   bar: ProgressBar | None, sim_trace: bool = False) -> CallbackList:
    """The callbacks of one ``learn`` call: progress.csv rows in ``run``, a checkpoint every
    ``checkpoint_every`` env steps (0: none), a stop once ``stop`` is set; ``bar`` (if any) follows along;
    with ``sim_trace``, DeepRacer simulation-trace logs in ``run/sim-trace/`` (:class:`SimTraceCallback`)."""
    run = run if isinstance(run, RunFolder) else RunFolder(run)
    callbacks: list[BaseCallback] = [ProgressCsvCallback(run, bar), CheckpointCallback(run, checkpoint_every)]
    if sim_trace:
        from racingline.deepracer.simtrace import training_trace_dir

        callbacks.append(SimTraceCallback(training_trace_dir(run.path)))
    if bar is not None:
        callbacks.append(ProgressBarCallback(bar))
    callbacks.append(StopOnEventCallback(stop))
    return CallbackList(callbacks)


class ProgressBar:
    """A rich progress bar on stderr: steps, steps/s, mean episode reward and progress."""

    def __init__(self, total: int, start: int, label: str) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[sps]} steps/s"), TextColumn("rew {task.fields[rew]}"),
            TextColumn("progress {task.fields[prog]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False,
        )
        self.task = self.progress.add_task(label, total=total, completed=start, sps="-", rew="-", prog="-")
        self.last = 0.0

    def step(self, timesteps: int) -> None:
        now = time.monotonic()
        if now - self.last > 0.1:
            self.last = now
            self.progress.update(self.task, completed=timesteps)

    def stats(self, sps: Any, rew: Any, prog: Any) -> None:
        self.progress.update(self.task, sps=f"{sps:.0f}" if sps != "" else "-",
                             rew=f"{rew:.1f}" if rew != "" else "-", prog=f"{prog:.0f}%" if prog != "" else "-")

    def __enter__(self) -> ProgressBar:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

