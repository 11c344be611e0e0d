"""A sweep's results: one row per trial (from Ray Tune's experiment state), the CSV, the rich table, the best
trial's config and the plot of the objective over trials."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from racingline.errors import RacinglineError
from racingline.io import atomic_path, atomic_write_text
from racingline.sweep.folder import SweepFolder, trial_name
from racingline.sweep.space import SearchSpace
from racingline.sweep.trial import SUMMARY_KEYS

__all__ = ["TrialRow", "collect_rows", "best_row", "write_results", "results_table", "trial_notes", "STATUSES"]

#: A trial's status in the results: evaluated; stopped early by the scheduler; values that break a rule
#: between config keys; training or evaluation failed; Ray reported an error; not finished (the sweep was
#: interrupted: ``racingline sweep --resume`` continues it).
STATUSES = ("done", "stopped early", "invalid", "failed", "error", "unfinished")


@dataclass
class TrialRow:
    """One trial: its number (in the order trials were made), name, status, sampled values and figures."""

    number: int
    name: str
    status: str
    params: dict[str, Any]
    timesteps: int | None = None
    train_progress: float | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    score: float | None = None
    message: str = ""
    run_dir: str = ""

    def csv_row(self, keys: list[str]) -> list[Any]:
        return [self.number, self.name, self.status, *[_cell(self.params.get(k)) for k in keys],
                _cell(self.timesteps), _cell(self.train_progress), *[_cell(self.figures.get(k)) for k in SUMMARY_KEYS],
                _cell(self.score), self.run_dir, self.message]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return str(value)
    return value


def _number_of(tag: str, fallback: int) -> int:
    head = str(tag).split("_", 1)[0]
    return int(head) if head.isdigit() else fallback


def _status(tune_status: str, result: dict[str, Any]) -> str:
    if tune_status == "ERROR":
        return "error"
    if tune_status != "TERMINATED":
        return "unfinished"
    reported = result.get("status")
    if reported in ("done", "invalid", "failed"):
        return str(reported)
    return "stopped early"


def _saved_steps(run: Path, reported: Any) -> Any:
    """The env steps of a trial's newest saved model (a stopped trainer trains on a little after its last
    report), else the steps it reported."""
    from racingline.train.runs import RunFolder

    try:
        return RunFolder(run).resume_point()[2]
    except (RacinglineError, OSError):
        return reported


def collect_rows(folder: SweepFolder, space: SearchSpace) -> list[TrialRow]:
    """The trials of the sweep in ``folder`` (Ray must be initialised: Tune reads its state through it)."""
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(str(folder.tune))
    rows = []
    for i, trial in enumerate(analysis.trials):
        result = dict(trial.last_result or {})
        name = trial_name(trial.trial_id)
        status = _status(str(trial.status), result)
        params = space.overrides(trial.config or {})
        run = folder.run(name)
        score = result.get("score")
        rows.append(TrialRow(
            number=_number_of(trial.experiment_tag, i + 1), name=name, status=status, params=params,
            timesteps=_saved_steps(run, result.get("timesteps")), train_progress=result.get("train_progress"),
            figures={k: result.get(k) for k in SUMMARY_KEYS} if status == "done" else {},
            score=float(score) if isinstance(score, (int, float)) and status == "done" else None,
            message=str(result.get("message") or ("see the Ray Tune logs in " + str(folder.tune) if status == "error"
                                                   else "")),
            run_dir=str(run) if run.is_dir() else ""))
    rows.sort(key=lambda r: r.number)
    return rows


def best_row(rows: list[TrialRow]) -> TrialRow | None:
    """The evaluated trial with the highest score (the earlier one on a tie), or ``None``."""
    scored = [r for r in rows if r.score is not None and math.isfinite(r.score)]
    return max(scored, key=lambda r: (r.score, -r.number)) if scored else None


def write_results(folder: SweepFolder, rows: list[TrialRow], space: SearchSpace, objective: str) -> TrialRow | None:
    """Write ``results.csv``, ``best.yaml`` (the best trial's resolved config) and ``objective.png``; each
    atomically. Returns the best row."""
    keys = list(space.entries)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["trial", "name", "status", *keys, "timesteps", "train_progress", *SUMMARY_KEYS, "score",
                     "run_dir", "message"])
    for row in rows:
        writer.writerow(row.csv_row(keys))
    atomic_write_text(folder.results_csv, buf.getvalue())
    best = best_row(rows)
    if best is not None and best.run_dir:
        from racingline.train.config import load_config, save_config

        # The run's own config (relative files resolved against the run folder), written with absolute paths.
        save_config(load_config(Path(best.run_dir) / "config.yaml"), folder.best_config)
    _plot(folder.plot, rows, objective)
    return best


def _plot(path: Path, rows: list[TrialRow], objective: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    try:
        scored = [r for r in rows if r.score is not None]
        if scored:
            ax.plot([r.number for r in scored], [r.score for r in scored], "o", color="tab:blue", label="evaluated trial")
            best, xs, ys = -math.inf, [], []
            for r in scored:
                best = max(best, r.score)
                xs.append(r.number)
                ys.append(best)
            ax.step(xs, ys, where="post", color="tab:green", label="best so far")
        others = [r for r in rows if r.score is None]
        if others:
            low = min((r.score for r in scored), default=0.0)
            ax.plot([r.number for r in others], [low] * len(others), "x", color="grey",
                    label="no score (stopped early, invalid, failed or unfinished)")
        ax.set_xlabel("trial")
        ax.set_ylabel(f"objective ({objective})")
        ax.set_title(f"sweep: {len(scored)} of {len(rows)} trials evaluated")
        ax.grid(alpha=0.3)
        if rows:
            ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)


def _fmt(value: Any, spec: str = ".3g") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def results_table(rows: list[TrialRow], space: SearchSpace, objective: str, title: str = "sweep") -> Any:
    """A rich table of the trials, best score first (trials without a score after, in order); why a trial has
    no score is in :func:`trial_notes`."""
    from rich.table import Table

    best = best_row(rows)
    table = Table(title=f"{title} (objective: {objective})")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("trial", no_wrap=True)
    table.add_column("status", min_width=7)
    for key in space.entries:
        table.add_column(key.rsplit(".", 1)[-1], justify="right")
    for name in ("steps", "laps", "prog %", "score"):
        table.add_column(name, justify="right", no_wrap=True)
    ordered = sorted(rows, key=lambda r: (r.score is None, -(r.score or 0.0), r.number))
    for r in ordered:
        laps = f"{r.figures['laps_completed']}/{r.figures['laps_attempted']}" if r.figures else "—"
        table.add_row(str(r.number), r.name.removeprefix("trial_"), r.status, *[_fmt(r.params.get(k)) for k in space.entries],
                      _fmt(r.timesteps), laps, _fmt(r.figures.get("mean_progress_pct"), ".1f"), _fmt(r.score, ".4f"),
                      style="bold green" if best is not None and r is best else None)
    table.caption = ("laps: laps completed on the held-out tracks; prog %: mean progress; stopped early: by ASHA on "
                     "training progress; results.csv has every figure and the keys in full")
    return table


def trial_notes(rows: list[TrialRow]) -> list[str]:
    """One line per trial with a message (invalid values, a failed training or evaluation)."""
    return [f"{r.name}: {r.status}: {r.message}" for r in rows if r.message]
