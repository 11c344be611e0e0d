"""Track pools: track specs (names, paths, globs, ``random``, ``generated``) expanded into members, and the
:class:`TrackPool` an environment samples its episodes' track, direction and start from."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from racingline.choices import GENERATED_TRACK, RANDOM_TRACK, SPECIAL_MEMBERS
from racingline.tracks.files import (
    Track,
    TrackError,
    load_track,
    resolve_track_path,
    track_from_array,
    track_search_dirs,
)

__all__ = ["expand_track_spec", "SPECIAL_MEMBERS", "TrackPool", "PoolDraw", "PoolMember"]



def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def expand_track_spec(spec: str | os.PathLike | list, weights: list[float] | None = None
                      ) -> tuple[list[str], list[float] | None]:
    """Expand a track spec into pool members (paths, ``random`` or ``generated``) and their weights.

    A glob is matched as a path, then in every track search folder; each match gets the glob's weight.
    Raises :class:`TrackError` when a name or glob matches nothing.
    """
    items = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    if weights is not None and len(weights) != len(items):
        raise TrackError(f"track_weights: {len(weights)} weights given for {len(items)} tracks")
    members: list[str] = []
    out_w: list[float] = []
    for i, item in enumerate(items):
        w = 1.0 if weights is None else float(weights[i])
        text = str(item)
        if text in SPECIAL_MEMBERS:
            found = [text]
        elif _is_glob(text):
            found = sorted(glob.glob(os.path.expanduser(text)))
            if not found and os.sep not in text:
                pattern = text if text.endswith(".npy") else f"{text}.npy"
                for d in track_search_dirs():
                    found = sorted(str(p) for p in Path(d).glob(pattern) if p.is_file())
                    if found:
                        break
            if not found:
                where = ", ".join(str(d) for d in track_search_dirs())
                raise TrackError(f"{text}: no track files match this pattern (looked in {where})")
        else:
            found = [str(resolve_track_path(text))]
        members += found
        out_w += [w / len(found)] * len(found) if weights is not None else [1.0] * len(found)
    return members, (out_w if weights is not None else None)


#: A pool member: a loaded track, or a special member (:data:`racingline.choices.SPECIAL_MEMBERS`).
PoolMember = Track | str


@dataclass(frozen=True)
class PoolDraw:
    """What :meth:`TrackPool.draw` picked for an episode.

    Attributes:
        track: the track to drive, or ``None`` for CarRacing's procedural random track.
        reverse: drive it the other way.
        retired: a generated track this draw replaced (its simulator caches may be dropped), or ``None``.
    """

    track: Track | None
    reverse: bool
    retired: Track | None = None


class TrackPool:
    """The tracks an environment samples from, per episode: which track, which direction, which start.

    Args:
        members: tracks (a :class:`Track`, a path or name), ``"random"``/``None`` (CarRacing's procedural
            track) or ``"generated"`` (a new DeepRacer-like track every ``generated_every`` of its episodes).
        weights: sampling weights of ``members`` (default: equal).
        reverse: drive reversed: ``True``, ``False`` or ``"random"`` (per episode).
        start_waypoint: waypoint index to start from, or ``"random"``.
        generated_every: episodes a generated track is kept for.
        generated_width_m: road width of generated tracks: metres, ``(lo, hi)`` (drawn uniformly per track,
            after its seed), or ``None`` for :data:`racingline.tracks.generator.DEEPRACER_WIDTH_M`.

    Draws use the env's random generator in a fixed order (track, direction, a generated track's seed;
    the start after the track is known), so a seeded env repeats its episodes.
    """

    def __init__(self, members: Track | str | os.PathLike | Sequence[Any] | None, weights: Sequence[float] | None = None,
                 *, reverse: bool | str = False, start_waypoint: int | str = 0, generated_every: int = 1,
                 generated_width_m: float | Sequence[float] | None = None) -> None:
        if members is None or isinstance(members, (Track, str, os.PathLike)):
            items: list[Any] = [members]
        else:
            items = list(members)
            if not items:
                raise TrackError("track pool: is empty")
        if not (isinstance(start_waypoint, int) or start_waypoint == "random"):
            raise ValueError(f"start_waypoint: expected an index or 'random', got {start_waypoint!r}")
        if not (isinstance(reverse, bool) or reverse == "random"):
            raise ValueError(f"reverse: expected true, false or 'random', got {reverse!r}")
        pool: list[PoolMember] = []
        for m in items:
            if m is None or (isinstance(m, str) and m == RANDOM_TRACK):
                pool.append(RANDOM_TRACK)
            elif isinstance(m, str) and m == GENERATED_TRACK:
                pool.append(GENERATED_TRACK)
            else:
                pool.append(load_track(m))
        if weights is None:
            w = np.ones(len(pool))
        else:
            w = np.asarray(list(weights), dtype=np.float64)
            if w.shape != (len(pool),) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
                raise TrackError(f"track_weights: need {len(pool)} non-negative finite weights, got {list(weights)}")
        self.members: tuple[PoolMember, ...] = tuple(pool)
        self.probabilities = w / w.sum()
        self.reverse = reverse
        self.start_waypoint = start_waypoint
        self.generated_every = int(generated_every)
        if generated_width_m is None or isinstance(generated_width_m, (int, float)):
            self.generated_width_m = None if generated_width_m is None else (float(generated_width_m),) * 2
        else:
            lo, hi = (float(w) for w in generated_width_m)
            if not lo <= hi:
                raise ValueError(f"generated_width_m: expected lo <= hi, got {list(generated_width_m)}")
            self.generated_width_m = (lo, hi)
        self.generated: Track | None = None
        self._generated_uses = 0

    def __len__(self) -> int:
        return len(self.members)

    def draw(self, rng: np.random.Generator, *, track: int | Track | None = None,
             reverse: bool | str | None = None) -> PoolDraw:
        """Pick an episode's track and direction; ``track`` (a member index or a Track) and ``reverse`` override."""
        if isinstance(track, Track):
            member: PoolMember = track
        elif track is not None:
            member = self.members[int(track)]
        elif len(self.members) > 1:
            member = self.members[int(rng.choice(len(self.members), p=self.probabilities))]
        else:
            member = self.members[0]
        rev = self.reverse if reverse is None else reverse
        rev = bool(rng.integers(2)) if rev == "random" else bool(rev)
        retired = None
        if isinstance(member, str) and member == GENERATED_TRACK:
            member, retired = self._next_generated(rng)
        if isinstance(member, str):  # RANDOM_TRACK
            return PoolDraw(None, False, retired)
        return PoolDraw(member, rev, retired)

    def start_index(self, rng: np.random.Generator, n_waypoints: int, start: int | str | None = None) -> int:
        """The start waypoint of an episode on a track of ``n_waypoints`` (``start`` overrides the pool's)."""
        start = self.start_waypoint if start is None else start
        if start == "random":
            start = int(rng.integers(n_waypoints))
        return int(start) % n_waypoints

    def _next_generated(self, rng: np.random.Generator) -> tuple[Track, Track | None]:
        retired = None
        if self.generated is None or self._generated_uses >= self.generated_every:
            from racingline.tracks.generator import generate_track

            seed = int(rng.integers(2**31 - 1))
            width = None if self.generated_width_m is None else float(rng.uniform(*self.generated_width_m))
            retired = self.generated
            name = f"generated_{seed}" if width is None else f"generated_{seed}_w{width:.2f}"
            self.generated = track_from_array(generate_track(seed, width_m=width), name=name)
            self._generated_uses = 0
        self._generated_uses += 1
        return self.generated, retired
