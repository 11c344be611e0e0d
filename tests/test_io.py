"""Tests of racingline.io: atomic writes (content, permissions, clean-up on failure)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from racingline.io import atomic_path, atomic_write_bytes, atomic_write_text


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
