"""Output files: check up front that a path can be written, and write atomically (a temporary file in the
same folder, then a rename into place). Failures name the user's path, never the hidden temporary file."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from racingline.errors import RacinglineError

__all__ = ["OutputError", "check_writable", "check_writable_dir", "atomic_path", "atomic_write_bytes",
           "atomic_write_text"]

#: errno values of a failed write that carry no file name (``write``/``fsync`` on a full or broken disk).
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG}


class OutputError(RacinglineError, OSError):
    """An output path that cannot be written; the one-line message names the user's path and the problem.

    Also an :class:`OSError` (``errno``, ``strerror`` and ``filename`` set, ``filename`` being the user's
    path), so code that catches ``OSError`` around a write keeps working.
    """

    def __init__(self, message: str, *, path: str | os.PathLike | None = None, cause: OSError | None = None) -> None:
        super().__init__(message)
        self.errno = cause.errno if cause is not None else None
        self.strerror = _reason(cause) if cause is not None else None
        self.filename = str(path) if path is not None else None

    def __str__(self) -> str:
        return str(self.args[0])


def _reason(exc: OSError) -> str:
    """``exc``'s cause in a few lowercase words, e.g. ``read-only file system``, ``permission denied``."""
    if exc.errno == errno.EROFS:
        return "read-only file system"
    if exc.errno == errno.ENOENT and exc.filename is not None and Path(exc.filename).parent.is_dir():
        return "the file system does not allow new files there"  # /proc and the like
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows) or an unreadable folder
        return False


def _label(path: str | os.PathLike, what: str | None) -> str:
    return f"{what} {path}" if what else str(path)


def _nearest_existing(path: Path) -> Path:
    while not os.path.lexists(path) and path.parent != path:
        path = path.parent
    return path


def _check_folder(folder: Path, label: str) -> None:
    """``folder`` exists as a writable folder, or can be made: its nearest existing ancestor is a folder
    in which a file can be created (a probe file is made and removed there; nothing else is created)."""
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise OutputError(f"{label}: cannot write there: {existing} is a file, not a folder", path=folder)
    where = f"folder {existing}" if existing == folder else f"cannot create folder {folder}: {existing}"
    if _read_only(existing):
        raise OutputError(f"{label}: {where} is not writable (read-only file system)", path=folder)
    try:
        fd, probe = tempfile.mkstemp(prefix=".racingline-write-check-", dir=existing)
    except OSError as exc:
        raise OutputError(f"{label}: {where} is not writable ({_reason(exc)})", path=folder, cause=exc) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def check_writable(path: str | os.PathLike, *, what: str | None = "--out") -> Path:
    """Check, before any work, that a file can be written at ``path``; return it as a :class:`Path`.

    ``path`` must not be an existing folder, and its folder must exist or be creatable, in a place where
    files can be created. ``what`` (the option, e.g. ``"--json"``) starts the message.

    Raises:
        OutputError: one line naming ``path`` and the problem (``... is a directory``, ``folder ... is
            not writable (read-only file system)``, ``... is a file, not a folder``).
    """
    out = Path(path).expanduser()
    label = _label(path, what)
    if out.is_dir():
        raise OutputError(f"{label}: is a directory; give a file path", path=path)
    _check_folder(out.parent if str(out.parent) else Path("."), label)
    return out


def check_writable_dir(path: str | os.PathLike, *, what: str | None = None) -> Path:
    """Check, before any work, that files can be written in the folder ``path`` (made if missing).

    Raises:
        OutputError: ``path`` is a file, sits under a file, or lies where files cannot be created.
    """
    folder = Path(path).expanduser()
    label = _label(path, what)
    if os.path.lexists(folder) and not folder.is_dir():
        raise OutputError(f"{label}: is a file, not a folder", path=path)
    _check_folder(folder, label)
    return folder


def _write_error(final: Path, exc: OSError, *, stage: str = "write") -> OutputError:
    """The :class:`OutputError` for ``exc`` raised while writing ``final`` (naming ``final``, not the temporary
    file). ``stage``: ``"mkdir"`` (making the folder), ``"create"`` (the temporary file) or ``"write"``."""
    if isinstance(exc, OutputError):
        return exc
    parent = final.parent
    if stage == "mkdir":
        existing = _nearest_existing(parent)
        if not existing.is_dir():
            return OutputError(f"{final}: cannot write there: {existing} is a file, not a folder", path=final,
                               cause=exc)
        return OutputError(f"{final}: cannot create folder {parent} ({_reason(exc)})", path=final, cause=exc)
    if stage == "create":
        return OutputError(f"{final}: cannot write: folder {parent} is not writable ({_reason(exc)})",
                           path=final, cause=exc)
    if isinstance(exc, IsADirectoryError) or final.is_dir():
        return OutputError(f"{final}: is a directory; give a file path", path=final, cause=exc)
    return OutputError(f"{final}: cannot write ({_reason(exc)})", path=final, cause=exc)


def _about_write(exc: OSError, tmp: Path, final: Path) -> bool:
    """Whether ``exc`` (raised inside an :func:`atomic_path` block) is a failure to write the file."""
    names = {str(tmp), str(final), str(final.parent)}
    named = {str(n) for n in (exc.filename, getattr(exc, "filename2", None)) if n is not None}
    if named:
        return bool(named & names)
    return exc.errno in _WRITE_ERRNOS


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, else delete it.

    ``suffix`` (default: ``path``'s own suffix) lets writers that insist on an extension work. The final
    file gets the permissions a plain ``open(path, "w")`` would give it (``0o666`` less the umask).

    Raises:
        OutputError: the folder cannot be made, the temporary file cannot be created, written or renamed;
            the message names ``path`` (not the temporary file). Other errors of the block pass unchanged.
    """
    final = Path(path)
    ext = suffix if suffix is not None else final.suffix
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(final, exc, stage="mkdir") from None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.tmp-", suffix=ext, dir=final.parent)
    except OSError as exc:
        raise _write_error(final, exc, stage="create") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the mode open() would
        os.replace(tmp_path, final)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        if isinstance(exc, OutputError) or not _about_write(exc, tmp_path, final):
            raise
        raise _write_error(final, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _umask() -> int:
    """The process umask, read without changing it where Linux reports it (``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it (briefly) and put it back
    os.umask(mask)
    return mask
