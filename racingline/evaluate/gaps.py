"""Each evaluation lap's gap to the best racing line, driven from the same track, direction and start.

:func:`with_line_gaps` fills :attr:`EpisodeResult.line_lap_time_s <racingline.evaluate.results.EpisodeResult>`
of every episode on a track file with :func:`racingline.lines.reference.best_line_lap` for that episode's
own direction and start waypoint (cached), so ``line_ratio`` (the agent's lap over the line's) compares laps
that started at the same place. The procedural ``random`` track has no line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from racingline.evaluate.results import EpisodeResult, EvalReport, TrackResult
from racingline.tracks.files import Track

__all__ = ["with_line_gaps", "track_line_gaps"]


def track_line_gaps(result: TrackResult, track: Track | str, *, cache: bool = True) -> TrackResult:
    """``result`` with each episode's best driven line lap (``line_lap_time_s``, ``line_method``) set.

    ``track``: the track the episodes were driven on, as loaded (its own direction). Only episodes that
    completed a lap are compared (the lines are not driven for the others); they keep ``None`` on the
    ``random`` track, or where no reference line laps cleanly (or none fits the track).
    """
    from racingline.lines.line import LineError
    from racingline.lines.reference import best_line_lap

    if not isinstance(track, Track):
        return result
    found: dict[tuple[bool, int], Any] = {}
    episodes: list[EpisodeResult] = []
    for ep in result.episodes:
        if not ep.lap_complete:
            episodes.append(ep)
            continue
        key = (bool(ep.track_reversed), int(ep.start_waypoint))
        if key not in found:
            try:
                found[key] = best_line_lap(track, reverse=key[0], start_waypoint=key[1], cache=cache)
            except LineError:  # e.g. a road too narrow for the reference margin
                found[key] = None
        lap = found[key]
        episodes.append(ep if lap is None else dataclasses.replace(
            ep, line_lap_time_s=float(lap.lap_time_s), line_method=str(lap.method)))
    return dataclasses.replace(result, episodes=episodes)


def with_line_gaps(report: EvalReport, tracks: Sequence[Track | str], *, cache: bool = True) -> EvalReport:
    """``report`` with :func:`track_line_gaps` applied to each of its tracks (``tracks`` in the same order)."""
    if len(tracks) != len(report.tracks):
        raise ValueError(f"with_line_gaps: {len(tracks)} tracks for {len(report.tracks)} track results")
    return dataclasses.replace(report, tracks=[track_line_gaps(r, t, cache=cache)
                                               for r, t in zip(report.tracks, tracks)])
