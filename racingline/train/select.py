"""Choosing the model a run keeps: every save driven on validation tracks, the best one kept as ``model.zip``.

PPO's last model is not always its best: on tracks it never saw, lap counts go up and down from one
checkpoint to the next (``benchmarks/pretrain.py`` measured 49, 51, 39 and 53 of 53 laps for last models
whose best checkpoints lapped 51-53). With ``select.generated: N`` a finished run drives each checkpoint and
its last model on N generated tracks in both directions, from waypoint 0, and keeps the
save with the most laps (complete, no off-track step), then the fastest ones (the mean, over the tracks it
lapped, of the fastest lap any save drove there over its own), then the most progress (:func:`rank`).
The saves drive as they did in training, their actions sampled (seeded), unless ``select.deterministic``:
a save that laps only without its own noise has no margin left. (On a run of an earlier
default config, ``benchmarks/time_to_competence.py``: deterministic driving lapped all 20 validation runs from 100k steps
on, while the 2022 tracks still saw 45 of 53 laps; sampled, the saves lapped 6-18 of 20 until 500k steps
and 20 from 600k, where the 2022 tracks saw 51-53.)

The validation tracks are :func:`racingline.tracks.generator.generate_track` of seeds
:data:`VALIDATION_SEED` onwards. Training draws generated tracks' seeds below ``2**31 - 1``
(:class:`racingline.tracks.pools.TrackPool`), so no validation track is ever trained on; benchmarks that
report results on generated tracks use seeds from :data:`TEST_SEED` on, which neither uses.

``selection.json`` in the run records every save's laps, lap times, progress and rank, and which one
was kept.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from racingline.errors import RunError
from racingline.io import atomic_path, atomic_write_text
from racingline.signals import blocked
from racingline.train.runs import RunFolder

__all__ = ["VALIDATION_SEED", "TEST_SEED", "SELECTION_FILE", "SaveScore", "validation_tracks", "held_out_tracks",
           "rank", "score_saves", "select_model"]

#: First seed of the validation tracks (training's generated tracks have seeds below ``2**31 - 1``).
VALIDATION_SEED = 2**31
#: First seed of generated tracks held out for reporting (benchmarks): used by neither training nor selection.
TEST_SEED = 2**31 + 1_000_000
#: Road widths of the validation tracks, metres (each track's drawn from its seed): narrower than most
#: published roads (1.07 m; the narrowest 2022 track is 0.95 m), so that saves differ in the laps they
#: finish, not only in their speed.
VALIDATION_WIDTH_M = (0.85, 0.95)
#: What a selecting run writes about its choice.
SELECTION_FILE = RunFolder.SELECTION_FILE


def _generated(first_seed: int, n: int, widths_m: tuple[float, float] | None) -> list[Any]:
    import numpy as np

    from racingline.tracks.files import track_from_array
    from racingline.tracks.generator import generate_track

    tracks = []
    for i in range(int(n)):
        seed = int(first_seed) + i
        width = None if widths_m is None else round(float(np.random.default_rng(seed).uniform(*widths_m)), 3)
        name = f"generated_{seed}" if width is None else f"generated_{seed}_w{width:.2f}"
        track = track_from_array(generate_track(seed, width_m=width), name=name)
        tracks += [track, track.reversed()]
    return tracks


def validation_tracks(n: int) -> list[Any]:
    """The first ``n`` validation tracks, each in both directions (``2n`` :class:`Track`); their road widths
    are drawn from :data:`VALIDATION_WIDTH_M`."""
    return _generated(VALIDATION_SEED, n, VALIDATION_WIDTH_M)


def held_out_tracks(n: int) -> list[Any]:
    """The first ``n`` held-out test tracks (``racingline tracks generate``'s 1.07 m road), each in both
    directions (``2n`` :class:`Track`)."""
    return _generated(TEST_SEED, n, None)


@dataclass
class SaveScore:
    """One save (its file name) driven on the validation tracks: per track its lap time (``None``: no lap)
    and progress (percent of the lap), and what it is ranked by (:func:`rank`)."""

    model: str
    steps: int
    lap_times_s: list[float | None]
    progress_pct: list[float]
    laps: int = 0
    speed: float = 0.0
    progress: float = 0.0

    @property
    def key(self) -> tuple[int, float, float, int]:
        """What the best save has most of: laps, then speed, then progress; then steps (the later save)."""
        return (self.laps, round(self.speed, 9), round(self.progress, 9), self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "steps": self.steps, "laps": self.laps, "speed": round(self.speed, 6),
                "progress": round(self.progress, 6), "lap_times_s": self.lap_times_s,
                "progress_pct": self.progress_pct}


def rank(scores: list[SaveScore]) -> list[SaveScore]:
    """Fill each save's ``laps``, ``speed`` and ``progress``; return the saves best first.

    ``speed``: the mean, over the tracks the save lapped, of the fastest lap any save drove there over its
    own (1.0: the fastest on every track it lapped; 0 with no lap). ``progress``: the mean progress over all
    tracks, as a fraction. Saves are ordered by :attr:`SaveScore.key`.
    """
    n = len(scores[0].lap_times_s) if scores else 0
    fastest = [min((s.lap_times_s[i] for s in scores if s.lap_times_s[i] is not None), default=None)
               for i in range(n)]
    for s in scores:
        ratios = [fastest[i] / t for i, t in enumerate(s.lap_times_s) if t is not None]
        s.laps = len(ratios)
        s.speed = sum(ratios) / len(ratios) if ratios else 0.0
        s.progress = sum(min(p, 100.0) for p in s.progress_pct) / (100.0 * n) if n else 0.0
    return sorted(scores, key=lambda s: s.key, reverse=True)


def score_saves(saves: list[tuple[int, Path]], tracks: list[Any], max_steps: int, *,
                deterministic: bool = False, seed: int = 0) -> list[SaveScore]:
    """Drive every save on every track from waypoint 0 (actions sampled with ``seed``, as in training, unless
    ``deterministic``); the saves best first (:func:`rank`)."""
    from racingline.evaluate.rollouts import evaluate

    scores = []
    for steps, model in saves:
        report = evaluate(model, tracks, max_steps=max_steps, deterministic=deterministic, seed=seed)
        eps = [tr.episodes[0] for tr in report.tracks]
        scores.append(SaveScore(
            model=model.name, steps=steps,
            lap_times_s=[round(e.lap_time_s, 3) if e.lap_complete and e.off_track_count == 0 else None for e in eps],
            progress_pct=[round(float(e.progress_pct), 2) for e in eps]))
    return rank(scores)


def select_model(run_dir: str | Path, n_tracks: int, max_steps: int, *, deterministic: bool = False,
                 seed: int = 0) -> dict[str, Any]:
    """Score every checkpoint of the run; copy the best one (with its statistics) to ``model.zip``.

    The last model must already be a checkpoint; a run with no other checkpoint keeps it without driving it.
    Writes ``selection.json`` (the saves best first); returns what it holds.

    Raises:
        RunError: the run has no checkpoint with its statistics.
    """
    run = RunFolder(Path(run_dir))
    saves = run.saved_checkpoints()
    if not saves:
        raise RunError(f"{run.path}: no checkpoint with its statistics to choose from")
    tracks = validation_tracks(n_tracks)
    if len(saves) == 1:  # nothing to choose between: the last model is kept as it is, undriven
        steps, path = saves[0]
        best = SaveScore(model=path.name, steps=steps, lap_times_s=[], progress_pct=[])
        scores = [best]
    else:
        scores = score_saves(saves, tracks, max_steps, deterministic=deterministic, seed=seed)
        best = scores[0]
    chosen = run.checkpoint(best.steps)
    with blocked():  # the model and its statistics are replaced together: a signal waits for both
        for src, dst in ((chosen, run.model), (RunFolder.vecnormalize_for(chosen), run.vecnormalize)):
            with atomic_path(dst) as tmp:
                shutil.copyfile(src, tmp)
    record = {"kept": best.to_dict(), "last_steps": saves[-1][0],
              "tracks": [t.name for t in tracks],
              "max_steps": int(max_steps), "deterministic": bool(deterministic), "seed": int(seed),
              "saves": [s.to_dict() for s in scores]}
    atomic_write_text(run.path / SELECTION_FILE, json.dumps(record, indent=1) + "\n")
    return record
