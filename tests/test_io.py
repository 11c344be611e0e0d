"""Tests of racingline.io: atomic writes (content, permissions, clean-up on failure) and output checks."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

import pytest

from racingline.errors import RacinglineError
from racingline.io import (
    OutputError,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    check_writable,
    check_writable_dir,
)


def _refuses_new_files(folder: str) -> bool:
    try:
        fd, probe = tempfile.mkstemp(dir=folder)
    except OSError:
        return True
    os.close(fd)
    os.unlink(probe)
    return False


#: Folders that refuse new files even to root (which ignores permissions): EACCES in sysfs, ENOENT in procfs.
REFUSING = [d for d in ("/sys/kernel", "/proc/self") if os.path.isdir(d) and _refuses_new_files(d)]


@pytest.fixture
def umask():
    """Set the process umask for one test (returns a setter); the previous umask is restored after."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield os.umask
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_writes_content_and_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "sub" / "notes.txt"
    assert atomic_write_text(out, "héllo\n") == out
    assert out.read_text(encoding="utf-8") == "héllo\n"
    assert atomic_write_bytes(out, b"\x00\x01") == out  # replaces an existing file
    assert out.read_bytes() == b"\x00\x01"
    assert _names(out.parent) == ["notes.txt"]


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_final_file_gets_normal_permissions(tmp_path, umask, mask, expected):
    umask(mask)
    text = tmp_path / "a.txt"
    atomic_write_text(text, "x")
    with atomic_path(tmp_path / "b.bin") as tmp:
        tmp.write_bytes(b"y")  # a writer that fills the temporary file itself, like model.save(tmp)
    plain = tmp_path / "c.txt"
    plain.write_text("z")  # what open() gives, for comparison
    assert _mode(text) == _mode(tmp_path / "b.bin") == _mode(plain) == expected


def test_temporary_file_is_beside_the_target_with_its_suffix(tmp_path):
    with atomic_path(tmp_path / "model.zip") as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".zip" and tmp.exists()
        assert not (tmp_path / "model.zip").exists()  # nothing at the final name until the rename
    with atomic_path(tmp_path / "stats", suffix=".pkl") as tmp:
        assert tmp.suffix == ".pkl"
    assert _names(tmp_path) == ["model.zip", "stats"]


def test_temporary_file_is_removed_on_exception(tmp_path):
    seen: list[Path] = []
    with pytest.raises(RuntimeError, match="writer failed"):
        with atomic_path(tmp_path / "out.txt") as tmp:
            seen.append(tmp)
            tmp.write_text("half written")
            raise RuntimeError("writer failed")
    assert not seen[0].exists()
    assert _names(tmp_path) == []


def test_original_file_is_untouched_when_a_write_fails(tmp_path, umask):
    umask(0o022)
    out = tmp_path / "track.npy"
    out.write_bytes(b"original")
    os.chmod(out, 0o600)
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(out) as tmp:
            tmp.write_bytes(b"new but incomplete")
            raise KeyboardInterrupt  # an interrupt mid-write, too, leaves the old file as it was
    assert out.read_bytes() == b"original"
    assert _mode(out) == 0o600
    assert _names(tmp_path) == ["track.npy"]


@pytest.mark.parametrize("proc_readable", [True, False])
def test_umask_is_read_without_changing_it(umask, monkeypatch, proc_readable):
    import racingline.io as io_module

    if not proc_readable:  # systems without /proc/self/status: set-and-restore fallback
        def no_proc(*args, **kwargs):
            raise OSError("no /proc here")

        monkeypatch.setattr(io_module, "open", no_proc, raising=False)
    umask(0o027)
    assert io_module._umask() == 0o027
    assert os.umask(0o027) == 0o027  # still in force afterwards


# ---------------------------------------------------------------------------------------------- output checks
def _one_line(exc: pytest.ExceptionInfo, *fragments: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and ".tmp-" not in msg and ".racingline-write-check-" not in msg, msg
    for fragment in fragments:
        assert fragment in msg, msg
    return msg


def test_check_writable_accepts_new_files_and_folders(tmp_path):
    assert check_writable(tmp_path / "a.json") == tmp_path / "a.json"
    assert check_writable(tmp_path / "new" / "deeper" / "a.json", what="--json") == tmp_path / "new/deeper/a.json"
    (tmp_path / "old.json").write_text("x")
    assert check_writable(tmp_path / "old.json")  # an existing file is replaced
    assert check_writable_dir(tmp_path / "runs" / "x", what="--runs-dir") == tmp_path / "runs" / "x"
    assert check_writable_dir(tmp_path) == tmp_path
    assert _names(tmp_path) == ["old.json"]  # nothing made, no probe file left


def test_check_writable_refuses_a_directory_and_a_file_parent(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError) as exc:
        check_writable(tmp_path, what="--json")
    _one_line(exc, f"--json {tmp_path}: is a directory")
    for out in (tmp_path / "afile" / "a.png", tmp_path / "afile" / "sub" / "a.png"):
        with pytest.raises(OutputError) as exc:
            check_writable(out)
        _one_line(exc, f"--out {out}:", f"{tmp_path / 'afile'} is a file, not a folder")
    with pytest.raises(OutputError) as exc:
        check_writable_dir(tmp_path / "afile", what="--run-dir")
    _one_line(exc, f"--run-dir {tmp_path / 'afile'}: is a file, not a folder")
    assert isinstance(exc.value, RacinglineError) and isinstance(exc.value, OSError)


@pytest.mark.skipif(not REFUSING, reason="no folder here refuses new files")
@pytest.mark.parametrize("folder", REFUSING)
def test_check_writable_refuses_folders_that_take_no_files(folder):
    with pytest.raises(OutputError) as exc:
        check_writable(f"{folder}/out.json", what="--json")
    _one_line(exc, f"--json {folder}/out.json:", f"folder {folder} is not writable (")
    with pytest.raises(OutputError) as exc:
        check_writable_dir(f"{folder}/runs", what="--runs-dir")
    _one_line(exc, f"--runs-dir {folder}/runs:", f"cannot create folder {folder}/runs: {folder} is not writable")


def test_check_writable_says_read_only_file_system(tmp_path, monkeypatch):
    import racingline.io as io_module

    class _ReadOnly:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr(io_module.os, "statvfs", lambda _path: _ReadOnly())
    with pytest.raises(OutputError) as exc:
        check_writable(tmp_path / "x.png", what="--out")
    _one_line(exc, f"--out {tmp_path / 'x.png'}: folder {tmp_path} is not writable (read-only file system)")


def test_atomic_write_errors_name_the_final_path(tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError) as exc:
        atomic_write_text(tmp_path / "afile" / "sub" / "a.txt", "x")
    _one_line(exc, str(tmp_path / "afile" / "sub" / "a.txt"), "is a file, not a folder")
    with pytest.raises(OutputError) as exc:
        atomic_write_text(tmp_path, "x")  # rename onto a folder
    _one_line(exc, f"{tmp_path}: is a directory")

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path / ".a.txt.tmp-123.txt"))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(OSError) as exc:  # still an OSError for callers that catch those
        atomic_write_text(tmp_path / "a.txt", "x")
    _one_line(exc, f"{tmp_path / 'a.txt'}: cannot write: folder {tmp_path} is not writable (read-only file system)")
    assert exc.value.errno == errno.EROFS and exc.value.filename == str(tmp_path / "a.txt")
    assert _names(tmp_path) == ["afile"]


def test_atomic_write_error_while_writing_names_the_final_path(tmp_path):
    out = tmp_path / "full.bin"
    with pytest.raises(OutputError) as exc:
        with atomic_path(out) as tmp:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))  # a writer hitting a full disk
    _one_line(exc, f"{out}: cannot write (no space left on device)")
    with pytest.raises(FileNotFoundError, match="elsewhere"):  # other errors of the block pass unchanged
        with atomic_path(out):
            raise FileNotFoundError(errno.ENOENT, "no such file", str(tmp_path / "elsewhere"))
    assert _names(tmp_path) == []
