"""Track pools: turn a track spec (names, paths, globs, ``random``, ``generated``) into pool members."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from racingline.choices import SPECIAL_MEMBERS
from racingline.tracks.files import TrackError, resolve_track_path, track_search_dirs

__all__ = ["expand_track_spec", "SPECIAL_MEMBERS"]



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
