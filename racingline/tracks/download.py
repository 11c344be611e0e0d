"""Fetching DeepRacer track files into a local folder, from the community race-data repository or a mirror.

A source is an ``http(s)://`` base URL (the file is ``<base>/<name>.npy``) or a local folder. Each file
is read whole into memory (refusing anything larger than :data:`MAX_DOWNLOAD_BYTES`), validated with
:func:`racingline.tracks.files.track_from_array`, and only then written into the destination folder
atomically, so a failed or interrupted download never leaves a file behind.
"""

from __future__ import annotations

import http.client
import io
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from racingline.io import atomic_write_bytes
from racingline.tracks.catalog import CatalogEntry, catalog_file_names, load_catalog, lookup_file_name
from racingline.tracks.files import Track, TrackError, track_from_array, tracks_cache_dir, user_track_dirs

__all__ = [
    "DEFAULT_SOURCE",
    "DEFAULT_TIMEOUT_S",
    "MAX_DOWNLOAD_BYTES",
    "DownloadError",
    "DownloadResult",
    "default_dest_dir",
    "check_track_name",
    "track_from_bytes",
    "fetch_url",
    "download_track",
    "download_tracks",
]

#: Where published DeepRacer track files live (``<name>.npy`` under this base).
DEFAULT_SOURCE = (
    "https://raw.githubusercontent.com/aws-deepracer-community/deepracer-race-data/main/raw_data/tracks/npy/"
)
#: Seconds to wait for a connection or for the next bytes of an answer.
DEFAULT_TIMEOUT_S = 30.0
#: Largest file accepted, bytes. The largest published track file is ~30 KB.
MAX_DOWNLOAD_BYTES = 1024 * 1024
#: Longest a single file may take to arrive in full, seconds.
MAX_TOTAL_TIME_S = 300.0

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_NPY_MAGIC = b"\x93NUMPY"


class DownloadError(TrackError):
    """A track file that could not be fetched or is not a usable track; the message names it."""


@dataclass(frozen=True)
class DownloadResult:
    """What happened to one requested track file.

    Attributes:
        name: canonical file stem, e.g. ``"2022_may_pro_cw"``.
        path: the file in the destination folder (``None`` when ``status == "failed"``).
        status: ``"downloaded"``, ``"copied"`` (from a local folder), ``"present"`` (already there,
            not fetched) or ``"failed"``.
        error: the one-line error message when failed, else ``None``.
        length_m: centerline length of the validated track (``None`` when present or failed).
        n_waypoints: distinct waypoints of the validated track (``None`` when present or failed).
    """

    name: str
    path: Path | None
    status: str
    error: str | None = None
    length_m: float | None = None
    n_waypoints: int | None = None

    @property
    def ok(self) -> bool:
        """True unless the file failed."""
        return self.status != "failed"


def default_dest_dir() -> Path:
    """Where downloads go by default: the first folder of ``RACINGLINE_TRACKS``, else the cache."""
    env = user_track_dirs()
    return env[0] if env else tracks_cache_dir()


def check_track_name(name: str) -> str:
    """Return ``name`` without a ``.npy`` suffix, refusing anything but a plain identifier.

    Letters, digits, ``_`` and ``-`` only (first character a letter or digit), so a name can never
    point outside the destination folder.

    Raises:
        DownloadError: ``name`` is empty or holds a path separator, ``..``, a space or other characters.
    """
    stem = name[:-4] if name.lower().endswith(".npy") else name
    if not _NAME_RE.match(stem):
        raise DownloadError(
            f"{name!r}: not a plain track name (letters, digits, '_' and '-' only; no paths)"
        )
    return stem


def track_from_bytes(data: bytes, *, name: str, label: str) -> Track:
    """Validate the bytes of a ``.npy`` track file and return the :class:`Track` they hold.

    Raises:
        DownloadError: the bytes are an HTML page, not a ``.npy`` file, truncated, or not a valid track.
    """
    head = bytes(data[:512]).lstrip().lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")) or (
        head.startswith(b"<") and b"<html" in head
    ):
        raise DownloadError(f"{label}: got an HTML page instead of a NumPy .npy file (is the source right?)")
    if not data.startswith(_NPY_MAGIC):
        if zipfile.is_zipfile(io.BytesIO(data)):
            raise DownloadError(f"{label}: is a .npz archive or zip file, expected a single .npy array")
        raise DownloadError(f"{label}: not a NumPy .npy file ({len(data)} bytes without the .npy header)")
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - numpy raises assorted errors on truncated/corrupt data
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DownloadError(f"{label}: truncated or corrupt .npy file ({reason})") from None
    try:
        return track_from_array(arr, name=name, label=label)
    except TrackError as exc:
        raise DownloadError(str(exc)) from None


def fetch_url(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, max_bytes: int = MAX_DOWNLOAD_BYTES,
              label: str | None = None) -> bytes:
    """GET ``url`` and return its body, refusing bodies above ``max_bytes``.

    ``timeout_s`` bounds the connection and every wait for more bytes; the whole transfer is also
    bounded by :data:`MAX_TOTAL_TIME_S`.

    Raises:
        DownloadError: timeout, HTTP error status, unreachable host, oversize or truncated body.
    """
    label = label or url
    request = urllib.request.Request(url, headers={"User-Agent": "racingline-track-download"})
    deadline = time.monotonic() + MAX_TOTAL_TIME_S
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            declared = resp.headers.get("Content-Length")
            expected = int(declared) if declared and declared.strip().isdigit() else None
            if expected is not None and expected > max_bytes:
                raise DownloadError(
                    f"{label}: {url} is {expected} bytes, far larger than any track file (limit {max_bytes})"
                )
            body = bytearray()
            while True:
                chunk = resp.read(64 * 1024)
                if not chunk:
                    break
                body += chunk
                if len(body) > max_bytes:
                    raise DownloadError(
                        f"{label}: {url} sent more than {max_bytes} bytes, far larger than any track file"
                    )
                if time.monotonic() > deadline:
                    raise DownloadError(f"{label}: {url} took longer than {MAX_TOTAL_TIME_S:g} s")
    except DownloadError:
        raise
    except urllib.error.HTTPError as exc:
        hint = " (no such file at the source)" if exc.code == 404 else ""
        raise DownloadError(f"{label}: {url} answered HTTP {exc.code} {exc.reason}{hint}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (TimeoutError, socket.timeout)):
            raise DownloadError(f"{label}: {url} timed out after {timeout_s:g} s") from None
        raise DownloadError(f"{label}: cannot reach {url} ({exc.reason})") from None
    except TimeoutError:
        raise DownloadError(f"{label}: {url} timed out after {timeout_s:g} s") from None
    except http.client.IncompleteRead as exc:
        raise DownloadError(f"{label}: {url} closed the connection after {len(exc.partial)} bytes") from None
    except (http.client.HTTPException, OSError, ValueError) as exc:
        raise DownloadError(f"{label}: fetching {url} failed ({type(exc).__name__}: {exc})") from None
    if expected is not None and len(body) != expected:
        raise DownloadError(
            f"{label}: {url} closed the connection after {len(body)} of {expected} bytes (truncated download)"
        )
    return bytes(body)


def _read_local(folder: Path, stem: str, max_bytes: int) -> bytes:
    src = folder / f"{stem}.npy"
    if not src.is_file():
        raise DownloadError(f"{stem}: no file {src.name} in source folder {folder}")
    size = src.stat().st_size
    if size > max_bytes:
        raise DownloadError(f"{stem}: {src} is {size} bytes, far larger than any track file (limit {max_bytes})")
    try:
        return src.read_bytes()
    except OSError as exc:
        raise DownloadError(f"{stem}: cannot read {src} ({exc.strerror or exc})") from None


def _source_kind(source: str | os.PathLike) -> tuple[str, str | Path]:
    """``("url", base_with_slash)`` or ``("dir", folder)``; raises for anything else."""
    text = str(source)
    scheme = urllib.parse.urlsplit(text).scheme.lower()
    if scheme in ("http", "https"):
        return "url", text if text.endswith("/") else f"{text}/"
    if "://" in text:
        raise DownloadError(f"{text}: unsupported source; give an http(s):// base URL or a local folder")
    folder = Path(text).expanduser()
    if folder.exists() and not folder.is_dir():
        raise DownloadError(f"{text}: is a file, not a folder; --source takes an http(s):// base URL or a folder "
                            "holding <name>.npy files")
    if not folder.is_dir():
        raise DownloadError(f"{text}: source folder does not exist (give an http(s):// URL or a folder)")
    return "dir", folder


def download_track(name: str, *, dest: str | os.PathLike | None = None,
                   source: str | os.PathLike | None = None, force: bool = False,
                   timeout_s: float = DEFAULT_TIMEOUT_S, max_bytes: int = MAX_DOWNLOAD_BYTES,
                   catalog: list[CatalogEntry] | None = None) -> DownloadResult:
    """Fetch one catalog track file (``NAME``, ``NAME_cw`` or ``NAME_ccw``) into ``dest``.

    Args:
        name: a catalog file stem, ``.npy`` optional, any case.
        dest: destination folder (default :func:`default_dest_dir`), created if needed.
        source: ``http(s)://`` base URL or local folder (default :data:`DEFAULT_SOURCE`).
        force: fetch even when ``dest/<name>.npy`` already exists.
        timeout_s: connection/read timeout for URLs, seconds.
        max_bytes: largest file accepted.
        catalog: catalog entries to check names against (default: the project's catalog).

    Raises:
        DownloadError: the name is not a plain identifier or not in the catalog, or the file cannot be
            fetched or is not a valid track. Nothing is written then.
    """
    stem = check_track_name(name)
    try:
        _, stem = lookup_file_name(stem, load_catalog() if catalog is None else catalog)
    except TrackError as exc:
        raise DownloadError(str(exc)) from None
    dest_dir = Path(dest).expanduser() if dest is not None else default_dest_dir()
    if dest_dir.exists() and not dest_dir.is_dir():
        raise DownloadError(f"{dest_dir}: destination exists and is not a folder")
    target = dest_dir / f"{stem}.npy"
    if target.resolve().parent != dest_dir.resolve():  # defence in depth; check_track_name forbids this
        raise DownloadError(f"{name!r}: would be written outside {dest_dir}")
    if target.is_file() and not force:
        return DownloadResult(name=stem, path=target, status="present")
    kind, where = _source_kind(DEFAULT_SOURCE if source is None else source)
    if kind == "url":
        url = f"{where}{urllib.parse.quote(stem)}.npy"
        data = fetch_url(url, timeout_s=timeout_s, max_bytes=max_bytes, label=stem)
        label, status = f"{stem} ({url})", "downloaded"
    else:
        data = _read_local(Path(where), stem, max_bytes)
        label, status = f"{stem} ({Path(where) / (stem + '.npy')})", "copied"
    track = track_from_bytes(data, name=stem, label=label)
    try:
        atomic_write_bytes(target, data)
    except OSError as exc:
        raise DownloadError(f"{stem}: cannot write {target} ({exc.strerror or exc})") from None
    return DownloadResult(name=stem, path=target, status=status, length_m=track.length_m,
                          n_waypoints=track.n_waypoints)


def download_tracks(names: Iterable[str] | None = None, *, all_tracks: bool = False,
                    dest: str | os.PathLike | None = None, source: str | os.PathLike | None = None,
                    force: bool = False, timeout_s: float = DEFAULT_TIMEOUT_S,
                    max_bytes: int = MAX_DOWNLOAD_BYTES,
                    on_start: Callable[[int], None] | None = None,
                    on_result: Callable[[DownloadResult], None] | None = None) -> list[DownloadResult]:
    """Fetch several track files; one failure does not stop the others.

    Args:
        names: file stems to fetch (duplicates are fetched once); or ``all_tracks=True`` for every
            file of every catalog track.
        on_start: called once with the number of files about to be processed.
        on_result: called after each file with its :class:`DownloadResult`.
        Others as in :func:`download_track`.

    Returns:
        One :class:`DownloadResult` per distinct name, in order; failures have ``status == "failed"``.

    Raises:
        DownloadError: neither names nor ``all_tracks`` were given, or both were; ``source`` is neither an
            http(s) URL nor an existing folder.
    """
    names = list(names or [])
    if all_tracks and names:
        raise DownloadError("give track names or --all, not both")
    catalog = load_catalog()
    if all_tracks:
        names = catalog_file_names(catalog)
    if not names:
        raise DownloadError("no track names given; name tracks (see `racingline tracks list`) or use --all")
    if source is not None:
        _source_kind(source)  # a source that cannot serve is one error, not one per track
    unique = list(dict.fromkeys(names))
    if on_start is not None:
        on_start(len(unique))
    dest_dir = Path(dest).expanduser() if dest is not None else default_dest_dir()
    results = []
    for name in unique:
        try:
            result = download_track(name, dest=dest_dir, source=source, force=force, timeout_s=timeout_s,
                                    max_bytes=max_bytes, catalog=catalog)
        except TrackError as exc:
            result = DownloadResult(name=name, path=None, status="failed",
                                    error=" ".join(str(exc).split()))
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
