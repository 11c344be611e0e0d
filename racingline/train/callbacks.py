"""Training callbacks and Ctrl-C: progress.csv rows, checkpoints, a rich progress bar, SIGINT as a stop event.

:func:`make_callbacks` gives the callbacks :func:`racingline.train.training.train` passes to ``PPO.learn``: one
progress.csv row per PPO iteration (see ``PROGRESS_COLUMNS``), a checkpoint every ``checkpoint_every`` env
steps, and a stop once Ctrl-C has set the stop event (:func:`sigint_to_event`). Models and their statistics
are written atomically (:func:`save_model`).
"""

from __future__ import annotations

import contextlib
import csv
import math
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from racingline.io import atomic_path
from racingline.train.runs import PROGRESS_FILE, checkpoint_path, vecnormalize_path

__all__ = [
    "PROGRESS_COLUMNS",
    "ProgressBar",
    "make_callbacks",
    "save_model",
    "sigint_ignored",
    "sigint_to_event",
]

#: Columns of progress.csv. ``time_s`` is training wall time (summed over resumed sessions);
#: ``steps_per_s`` the rate of that iteration; ``ep_*``/``lap_rate`` are over the last 100 episodes;
#: the train/* losses are those of the update that ended the iteration.
PROGRESS_COLUMNS = (
    "timesteps", "time_s", "steps_per_s", "episodes", "ep_rew_mean", "ep_len_mean", "ep_progress_mean", "lap_rate",
    "learning_rate", "loss", "policy_gradient_loss", "value_loss", "entropy_loss", "approx_kl", "clip_fraction",
    "explained_variance",
)


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while environment workers start: they inherit it, so only this process handles Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def sigint_to_event(stop: threading.Event) -> Iterator[None]:
    """First Ctrl-C sets ``stop`` (training ends after the current env step); a second raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def save_model(model, venv, model_path: Path) -> None:
    """Save a model and its statistics, each atomically."""
    with atomic_path(model_path) as tmp:
        model.save(tmp)
    with atomic_path(vecnormalize_path(model_path)) as tmp:
        venv.save(str(tmp))


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


def make_callbacks(run_dir: Path, checkpoint_every: int, stop: threading.Event, bar: ProgressBar | None):
    """The callbacks of one ``learn`` call: progress.csv rows in ``run_dir``, a checkpoint every
    ``checkpoint_every`` env steps (0: none), a stop once ``stop`` is set; ``bar`` (if any) follows along."""
    from stable_baselines3.common.callbacks import BaseCallback, CallbackList

    class ProgressLog(BaseCallback):
        """progress.csv rows; the row of an iteration is written once its update's losses are known."""

        def __init__(self) -> None:
            super().__init__()
            self.path = run_dir / PROGRESS_FILE
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
            if bar is not None:
                bar.stats(rate, stats["ep_rew_mean"], stats["ep_progress_mean"])

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

    class Checkpoints(BaseCallback):
        def _on_training_start(self) -> None:
            self.every = checkpoint_every
            self.next = (self.num_timesteps // self.every + 1) * self.every if self.every else math.inf

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next:
                save_model(self.model, self.model.get_vec_normalize_env(), checkpoint_path(run_dir, self.num_timesteps))
                self.next = (self.num_timesteps // self.every + 1) * self.every
            return True

    class StopOnInterrupt(BaseCallback):
        def _on_step(self) -> bool:
            if bar is not None:
                bar.step(self.num_timesteps)
            return not stop.is_set()

    return CallbackList([ProgressLog(), Checkpoints(), StopOnInterrupt()])


class ProgressBar:
    """A rich progress bar on stderr: steps, steps/s, mean episode reward and progress."""

    def __init__(self, total: int, start: int, label: str) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

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

