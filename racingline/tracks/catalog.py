"""The catalog of known DeepRacer tracks: names, display names, seasons, lengths, widths, directions.

The facts live in the project's data file ``tracks/catalog.csv`` (one row per track, columns
``name, display_name, season, release_date, length_m, width_m, directions, notes``), taken from the
AWS DeepRacer community race-data repository's ``raw_data/tracks/README.md``. ``directions`` lists
the files published for a track: ``base`` is ``<name>.npy``, ``cw``/``ccw`` are ``<name>_cw.npy`` /
``<name>_ccw.npy``. An empty ``width_m`` means the width is not known.
"""

from __future__ import annotations

import csv
import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from racingline.resources import CATALOG_PATH
from racingline.tracks.files import TrackError, track_search_dirs

__all__ = [
    "CatalogEntry",
    "CATALOG_PATH",
    "DIRECTIONS",
    "load_catalog",
    "catalog_file_names",
    "lookup_file_name",
    "local_copies",
    "local_track_names",
    "close_track_names",
    "not_found_hint",
]

#: The project's catalog data file.
#: Known directions, in display order, and the file-name suffix of each.
DIRECTIONS: dict[str, str] = {"base": "", "cw": "_cw", "ccw": "_ccw"}

_COLUMNS = ("name", "display_name", "season", "release_date", "length_m", "width_m", "directions", "notes")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class CatalogEntry:
    """One known DeepRacer track.

    Attributes:
        name: the upstream file stem of the base track (e.g. ``"2022_may_pro"``), case as published.
        display_name: the name shown in the DeepRacer console (e.g. ``"Ross Super Speedway"``).
        season: year the track was released.
        release_date: ISO date of release (``""`` when not known).
        length_m: centerline length, metres.
        width_m: road width, metres, or ``None`` when not known.
        directions: published variants, a subset of ``("base", "cw", "ccw")`` in that order.
        notes: where a fact did not come straight from the upstream README, why.
    """

    name: str
    display_name: str
    season: int
    release_date: str
    length_m: float
    width_m: float | None
    directions: tuple[str, ...]
    notes: str = ""

    def file_names(self) -> list[str]:
        """File stems published for this track, e.g. ``["2022_may_pro", "2022_may_pro_cw", ...]``."""
        return [f"{self.name}{DIRECTIONS[d]}" for d in self.directions]


def _parse_row(row: dict[str, str], label: str) -> CatalogEntry:
    name = (row.get("name") or "").strip()
    if not _NAME_RE.match(name):
        raise TrackError(f"{label}: track name {name!r} is not a plain identifier")
    try:
        season = int(row["season"])
        length_m = float(row["length_m"])
        width_raw = (row.get("width_m") or "").strip()
        width_m = float(width_raw) if width_raw else None
    except (TypeError, ValueError) as exc:
        raise TrackError(f"{label}: track {name}: bad number ({exc})") from None
    if not length_m > 0 or (width_m is not None and not width_m > 0):
        raise TrackError(f"{label}: track {name}: length and width must be positive")
    directions = tuple((row.get("directions") or "").split())
    unknown = [d for d in directions if d not in DIRECTIONS]
    if not directions or unknown:
        raise TrackError(f"{label}: track {name}: directions {directions!r} must be some of base, cw, ccw")
    ordered = tuple(d for d in DIRECTIONS if d in directions)
    return CatalogEntry(
        name=name,
        display_name=(row.get("display_name") or "").strip() or name,
        season=season,
        release_date=(row.get("release_date") or "").strip(),
        length_m=length_m,
        width_m=width_m,
        directions=ordered,
        notes=(row.get("notes") or "").strip(),
    )


def load_catalog(path: str | os.PathLike | None = None) -> list[CatalogEntry]:
    """Read the track catalog (default: the project's ``tracks/catalog.csv``), newest first as stored.

    Raises:
        TrackError: the file is missing, lacks a column, or holds a malformed or duplicated row.
    """
    path = Path(path) if path is not None else CATALOG_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TrackError(f"{path}: cannot read the track catalog ({exc.strerror or exc})") from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise TrackError(f"{path}: track catalog lacks column(s) {', '.join(missing)}")
    entries: list[CatalogEntry] = []
    seen: set[str] = set()
    for lineno, row in enumerate(reader, start=2):
        entry = _parse_row(row, f"{path}:{lineno}")
        if entry.name.lower() in seen:
            raise TrackError(f"{path}:{lineno}: track {entry.name} is listed twice")
        seen.add(entry.name.lower())
        entries.append(entry)
    return entries


def catalog_file_names(entries: list[CatalogEntry] | None = None) -> list[str]:
    """Every published file stem of every catalog track (base, cw, ccw variants)."""
    entries = load_catalog() if entries is None else entries
    return [stem for e in entries for stem in e.file_names()]


def lookup_file_name(name: str, entries: list[CatalogEntry] | None = None) -> tuple[CatalogEntry, str]:
    """Find the catalog track and canonical file stem for ``name`` (``.npy`` optional, any case).

    ``"2022_may_pro_cw"`` gives the ``2022_may_pro`` entry and ``"2022_may_pro_cw"``.

    Raises:
        TrackError: ``name`` is not a file published for any catalog track.
    """
    entries = load_catalog() if entries is None else entries
    stem = name[:-4] if name.lower().endswith(".npy") else name
    for entry in entries:
        for candidate in entry.file_names():
            if candidate.lower() == stem.lower():
                return entry, candidate
    close = close_track_names(stem, catalog_file_names(entries))
    maybe = f" (closest: {', '.join(close)})" if close else ""
    raise TrackError(f"{name}: unknown track name{maybe}; `racingline tracks list` shows the known tracks")


def local_copies(entry: CatalogEntry, dirs: list[Path] | None = None) -> list[str]:
    """Directions of ``entry`` that have a file in one of ``dirs`` (default: the track search folders)."""
    dirs = track_search_dirs() if dirs is None else dirs
    found = []
    for direction in entry.directions:
        fname = f"{entry.name}{DIRECTIONS[direction]}.npy"
        if any((d / fname).is_file() for d in dirs):
            found.append(direction)
    return found


def local_track_names(dirs: list[Path] | None = None) -> list[str]:
    """Names (file stems) of the ``.npy`` tracks in ``dirs`` (default: the track search folders), sorted."""
    dirs = track_search_dirs() if dirs is None else dirs
    names: set[str] = set()
    for d in dirs:
        try:
            names.update(p.name[:-4] for p in d.glob("*.npy") if p.is_file())
        except OSError:  # an unreadable folder holds nothing we can use
            continue
    return sorted(names)


def close_track_names(name: str, candidates: list[str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``candidates`` closest to ``name`` (case-insensitive, :func:`difflib.get_close_matches`)."""
    by_lower: dict[str, str] = {}
    for c in candidates:
        by_lower.setdefault(c.lower(), c)
    stem = name[:-4] if name.lower().endswith(".npy") else name
    return [by_lower[m] for m in difflib.get_close_matches(stem.lower(), list(by_lower), n=n, cutoff=0.6)]


def not_found_hint(name: str, *, dirs: list[Path] | None = None,
                   entries: list[CatalogEntry] | None = None, max_local: int = 10) -> str:
    """What to do about a track name that has no local file (the end of the "no such track file" message).

    A catalog name: download it (``racingline tracks download NAME``, canonical spelling). Any other name:
    say it is not a known DeepRacer track, suggest the closest catalog and local names, and list the local
    tracks (at most ``max_local``). ``dirs``: the folders searched (default :func:`track_search_dirs`).
    """
    stem = name[:-4] if name.lower().endswith(".npy") else name
    try:
        entries = load_catalog() if entries is None else entries
    except TrackError:
        entries = []
    try:
        _, canonical = lookup_file_name(stem, entries)
    except TrackError:
        pass
    else:
        return f"Download it with `racingline tracks download {canonical}` or give a path to a .npy file"
    local = local_track_names(dirs)
    close = close_track_names(stem, [*local, *catalog_file_names(entries)])
    closest = f" (closest: {', '.join(close)})" if close else ""
    parts = [f"{stem} is not a known DeepRacer track{closest}"]
    if local:
        more = f", ... ({len(local)} in all)" if len(local) > max_local else ""
        parts.append(f"local tracks: {', '.join(local[:max_local])}{more}")
    parts.append("`racingline tracks list` shows the catalog; or give a path to a .npy file")
    return "; ".join(parts)
