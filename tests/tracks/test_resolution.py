"""Finding a track by path or name: search order, ``.npy`` optional, and the not-found message."""

from __future__ import annotations

import os

import pytest

from racingline.tracks.files import (
    PROJECT_TRACKS_DIR,
    TrackError,
    load_track,
    resolve_track_path,
    save_track_array,
    track_search_dirs,
    tracks_cache_dir,
)
from racingline.tracks.generator import generate_track


@pytest.fixture()
def dirs(tmp_path, monkeypatch):
    """cwd, two RACINGLINE_TRACKS folders and a cache, all empty and isolated."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    env1, env2 = tmp_path / "env1", tmp_path / "env2"
    monkeypatch.setenv("RACINGLINE_TRACKS", os.pathsep.join([str(env1), "", str(env2)]))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return {
        "cwd": work / "tracks",
        "env1": env1,
        "env2": env2,
        "cache": tmp_path / "xdg" / "racingline" / "tracks",
    }


def put(folder, name, seed=0):
    return save_track_array(generate_track(seed, length_m=20.0 + seed), folder / f"{name}.npy")


def test_search_dirs_order(dirs):
    assert track_search_dirs() == [dirs["cwd"], PROJECT_TRACKS_DIR, dirs["env1"], dirs["env2"], dirs["cache"]]
    assert tracks_cache_dir() == dirs["cache"]


def test_cache_defaults_to_home(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert tracks_cache_dir() == tmp_path / ".cache" / "racingline" / "tracks"


def test_existing_path_wins_over_names(dirs, tmp_path):
    put(dirs["cwd"], "kidney", seed=1)
    other = put(tmp_path, "kidney", seed=2)
    assert resolve_track_path(other) == other
    assert resolve_track_path(str(other)) == other


def test_each_folder_in_order(dirs):
    # Later folders hold the name first; each earlier folder then takes over.
    put(dirs["cache"], "mytrack", seed=4)
    assert resolve_track_path("mytrack") == dirs["cache"] / "mytrack.npy"
    put(dirs["env2"], "mytrack", seed=3)
    assert resolve_track_path("mytrack") == dirs["env2"] / "mytrack.npy"
    put(dirs["env1"], "mytrack", seed=2)
    assert resolve_track_path("mytrack") == dirs["env1"] / "mytrack.npy"
    put(dirs["cwd"], "mytrack", seed=1)
    assert resolve_track_path("mytrack") == dirs["cwd"] / "mytrack.npy"
    # The loaded track really is the one from ./tracks.
    assert load_track("mytrack").length_m == pytest.approx(21.0)


def test_project_tracks_come_after_cwd_and_before_env(dirs):
    put(dirs["env1"], "kidney", seed=1)
    assert resolve_track_path("kidney") == PROJECT_TRACKS_DIR / "kidney.npy"
    put(dirs["cwd"], "kidney", seed=1)
    assert resolve_track_path("kidney") == dirs["cwd"] / "kidney.npy"


def test_name_with_or_without_npy(dirs):
    put(dirs["env2"], "mytrack")
    assert resolve_track_path("mytrack.npy") == dirs["env2"] / "mytrack.npy"
    assert resolve_track_path("mytrack") == dirs["env2"] / "mytrack.npy"
    assert load_track("mytrack.npy").name == "mytrack"


def test_not_found_says_where_it_looked_and_how_to_download(dirs):
    with pytest.raises(TrackError) as exc:
        resolve_track_path("2022_may_pro")
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith("2022_may_pro: no such track file")
    for folder in (dirs["cwd"], PROJECT_TRACKS_DIR, dirs["env1"], dirs["env2"], dirs["cache"]):
        assert str(folder) in msg
    assert "racingline tracks download 2022_may_pro" in msg
    with pytest.raises(TrackError, match="racingline tracks download 2022_may_pro`"):
        load_track("2022_may_pro.npy")


def test_missing_path_and_folder(dirs, tmp_path):
    with pytest.raises(TrackError, match="no such file"):
        resolve_track_path(tmp_path / "nowhere" / "x.npy")
    with pytest.raises(TrackError, match="is not a file"):
        resolve_track_path(tmp_path)


def test_unset_env_drops_those_folders(dirs, monkeypatch):
    monkeypatch.delenv("RACINGLINE_TRACKS")
    assert track_search_dirs() == [dirs["cwd"], PROJECT_TRACKS_DIR, dirs["cache"]]
