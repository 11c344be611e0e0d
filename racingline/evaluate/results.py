"""Evaluation results: one episode's figures, per-track and whole-evaluation summaries, JSON-ready dicts."""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from racingline.tracks.files import Track

__all__ = ["EpisodeResult", "TrackResult", "EvalReport", "Rollout"]


@dataclass(frozen=True)
class EpisodeResult:
    """One evaluation episode.

    ``lap_steps``/``lap_time_s`` are the lap's agent steps and simulated seconds when a lap completed,
    else ``None``; ``steps``/``time_s`` cover the whole episode. ``reversed_steps`` counts agent steps
    spent driving against the track direction; ``end`` says why the episode ended: ``lap``,
    ``out_of_playfield``, ``truncated`` (step limit), ``off_track`` (with ``terminate_on_off_track``)
    or ``terminated``. ``line_lap_time_s``: for a completed lap, the lap of the best racing line driven by
    the line controller from the same track, direction and start (``line_method`` names it), when one was
    driven; :attr:`line_ratio` is this episode's lap over it.
    """

    track: str
    track_reversed: bool
    start_waypoint: int
    lap_complete: bool
    lap_steps: int | None
    lap_time_s: float | None
    steps: int
    time_s: float
    progress_pct: float
    off_track_count: int
    reversed_steps: int
    total_reward: float
    end: str
    line_lap_time_s: float | None = None
    line_method: str | None = None

    @classmethod
    def from_final_info(cls, info: dict[str, Any], *, track: str, total_reward: float,
                        reversed_steps: int) -> EpisodeResult:
        """The result of an episode whose last step returned ``info`` (the env's lap and progress keys)."""
        lap = bool(info["lap_complete"])
        if lap:
            end = "lap"
        elif info.get("out_of_playfield", False):
            end = "out_of_playfield"
        elif info.get("TimeLimit.truncated", False):
            end = "truncated"
        elif info.get("off_track", False):
            end = "off_track"
        else:
            end = "terminated"
        return cls(
            track=track,
            track_reversed=bool(info["track_reversed"]),
            start_waypoint=int(info.get("start_waypoint", 0)),
            lap_complete=lap,
            lap_steps=int(info["lap_steps"]) if lap else None,
            lap_time_s=float(info["lap_time_s"]) if lap else None,
            steps=int(info["lap_steps"]),
            time_s=float(info["lap_time_s"]),
            progress_pct=float(info["progress"]),
            off_track_count=int(info["off_track_count"]),
            reversed_steps=int(reversed_steps),
            total_reward=float(total_reward),
            end=end,
        )

    @property
    def reversed(self) -> bool:
        """Whether the car drove against the track direction at some point."""
        return self.reversed_steps > 0

    @property
    def line_ratio(self) -> float | None:
        """Lap time over the best driven line's (``None`` without a lap or a line lap)."""
        if self.lap_time_s is None or not self.line_lap_time_s:
            return None
        return self.lap_time_s / self.line_lap_time_s

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``reversed`` and ``line_ratio`` included)."""
        return {**dataclasses.asdict(self), "reversed": self.reversed, "line_ratio": self.line_ratio}


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


class _Figures:
    """Aggregate figures over ``self.episodes`` (shared by :class:`TrackResult` and :class:`EvalReport`)."""

    episodes: list[EpisodeResult]

    @property
    def laps_completed(self) -> int:
        return sum(e.lap_complete for e in self.episodes)

    @property
    def laps_attempted(self) -> int:
        return len(self.episodes)

    @property
    def mean_progress_pct(self) -> float:
        return float(np.mean([e.progress_pct for e in self.episodes])) if self.episodes else 0.0

    @property
    def median_lap_steps(self) -> float | None:
        """Median over completed laps (``None`` when no lap completed)."""
        return _median([e.lap_steps for e in self.episodes if e.lap_steps is not None])

    @property
    def median_lap_time_s(self) -> float | None:
        """Median simulated lap time over completed laps (``None`` when no lap completed)."""
        return _median([e.lap_time_s for e in self.episodes if e.lap_time_s is not None])

    @property
    def median_line_ratio(self) -> float | None:
        """Median lap-time ratio to the best driven line over laps that have one (``None`` when none has)."""
        return _median([r for r in (e.line_ratio for e in self.episodes) if r is not None])

    @property
    def off_track_count(self) -> int:
        return sum(e.off_track_count for e in self.episodes)

    @property
    def reversed_episodes(self) -> int:
        return sum(e.reversed for e in self.episodes)

    @property
    def mean_reward(self) -> float:
        return float(np.mean([e.total_reward for e in self.episodes])) if self.episodes else 0.0

    def summary(self) -> dict[str, Any]:
        """Laps completed/attempted, mean progress, median lap steps/time of completed laps, off-tracks, ..."""
        return {
            "laps_completed": self.laps_completed,
            "laps_attempted": self.laps_attempted,
            "mean_progress_pct": self.mean_progress_pct,
            "median_lap_steps": self.median_lap_steps,
            "median_lap_time_s": self.median_lap_time_s,
            "median_line_ratio": self.median_line_ratio,
            "off_track_count": self.off_track_count,
            "reversed_episodes": self.reversed_episodes,
            "mean_reward": self.mean_reward,
        }


@dataclass(frozen=True)
class TrackResult(_Figures):
    """All episodes on one track, with their aggregate figures."""

    track: str
    source: str | None
    length_m: float | None
    episodes: list[EpisodeResult]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: the track, its figures and its episodes."""
        return {"track": self.track, "source": self.source, "length_m": self.length_m,
                "episodes_run": len(self.episodes), **self.summary(),
                "episodes": [e.to_dict() for e in self.episodes]}


@dataclass(frozen=True)
class EvalReport(_Figures):
    """An evaluation of one model on several tracks; its figures summarise every episode."""

    model: str
    run_dir: str
    deterministic: bool
    max_steps: int | None
    tracks: list[TrackResult]

    @property
    def episodes(self) -> list[EpisodeResult]:  # type: ignore[override]
        return [e for t in self.tracks for e in t.episodes]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: model, settings, one entry per track (with its episodes), summary."""
        return {
            "model": self.model,
            "run_dir": self.run_dir,
            "deterministic": self.deterministic,
            "max_steps": self.max_steps,
            "tracks": [t.to_dict() for t in self.tracks],
            "summary": self.summary(),
        }


@dataclass
class Rollout:
    """One episode's path and outcome.

    Attributes:
        track: the :class:`Track` driven (metres; for ``random``, the procedural track generated).
        path_m: car positions in metres, from the start to the lap's end or the episode's end.
        info: the env's ``info`` at the last step.
        result: the episode's figures.
        speeds_mps: the car's speed at each point of ``path_m`` (m/s).
        sim: the simulator (``carracing``, or ``torcs``: the road the car drives on is the track's whole width
            between its borders, not CarRacing's half of DeepRacer's).
    """

    track: Track
    path_m: list[tuple[float, float]]
    info: dict[str, Any]
    result: EpisodeResult
    speeds_mps: list[float] = field(default_factory=list)
    sim: str = "carracing"
