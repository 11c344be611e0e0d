"""The catalog of known DeepRacer tracks: its facts, name lookup and local-copy detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from racingline.tracks.catalog import (
    CATALOG_PATH,
    catalog_file_names,
    close_track_names,
    load_catalog,
    local_copies,
    local_track_names,
    lookup_file_name,
    not_found_hint,
)
from racingline.tracks.files import TrackError, load_track, save_track_array
from racingline.tracks.generator import generate_track

ROOT = Path(__file__).resolve().parents[2]
SHARED_2022 = ROOT.parent / "shared" / "tracks" / "2022"

# name: (display name, season, length_m, width_m, directions), as published upstream.
KNOWN = {
    "2022_may_pro": ("Ross Super Speedway", 2022, 63.92, 1.07, ("base", "cw", "ccw")),
    "2022_march_open": ("Rogue Circuit", 2022, 48.07, 1.07, ("base", "cw", "ccw")),
    "2022_july_open": ("DBro Raceway", 2022, 40.20, 1.07, ("base",)),
    "2022_summit_speedway": ("RL Speedway", 2022, 25.24, 1.07, ("base", "cw", "ccw")),
    "2024_reinvent_champ": ("Forever Raceway", 2024, 25.10, 0.76, ("cw", "ccw")),
    "reInvent2019_track": ("Smile Speedway", 2020, 23.12, 1.07, ("base", "cw", "ccw")),
    "reinvent_base": ("re:Invent 2018", 2020, 17.60, 0.76, ("base",)),
    "Vegas_track": ("AWS Summit Raceway", 2019, 22.57, 0.91, ("base",)),
    "Bowtie_track": ("Bowtie Track", 2019, 17.43, 0.76, ("base",)),
    "penbay_pro": ("Po-Chun Super Speedway", 2021, 89.24, 1.07, ("base", "cw", "ccw")),
    "Monaco": ("European Seaside Circuit", 2020, 60.00, 1.28, ("base",)),
}
SEASON_2022_TRACKS = [f"2022_{m}_{kind}" for m in ("march", "april", "may", "june", "july", "august",
                                                     "september", "october") for kind in ("open", "pro")]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_catalog_file_is_in_the_project_tracks_folder():
    assert CATALOG_PATH == ROOT / "racingline" / "data" / "tracks" / "catalog.csv"
    assert CATALOG_PATH.is_file()


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_known_facts(catalog, name):
    entry = next(e for e in catalog if e.name == name)
    display, season, length_m, width_m, directions = KNOWN[name]
    assert entry.display_name == display
    assert entry.season == season
    assert entry.length_m == pytest.approx(length_m)
    assert entry.width_m == pytest.approx(width_m)
    assert entry.directions == directions


def test_covers_the_2022_season_and_the_older_league(catalog):
    names = {e.name for e in catalog}
    assert set(SEASON_2022_TRACKS + ["2022_reinvent_champ", "2022_summit_speedway"]) <= names
    seasons = {e.season for e in catalog}
    assert {2019, 2020, 2021, 2022} <= seasons
    assert len(catalog) >= 62


def test_every_row_is_plausible(catalog):
    names = [e.name.lower() for e in catalog]
    assert len(names) == len(set(names))
    for e in catalog:
        assert 15.0 <= e.length_m <= 100.0, e.name
        assert e.width_m is None or 0.6 <= e.width_m <= 2.0, e.name
        assert e.display_name and e.display_name != e.name, e.name
        assert e.width_m is not None or "width unknown" in e.notes, e.name


def test_file_names_follow_directions(catalog):
    entry = next(e for e in catalog if e.name == "2024_reinvent_champ")
    assert entry.file_names() == ["2024_reinvent_champ_cw", "2024_reinvent_champ_ccw"]
    all_files = catalog_file_names(catalog)
    assert "2022_may_pro_ccw" in all_files and "2022_july_open" in all_files
    assert "2022_july_open_cw" not in all_files
    assert len(all_files) == sum(len(e.directions) for e in catalog)


@pytest.mark.skipif(not SHARED_2022.is_dir(), reason="../shared/tracks/2022 is not present")
def test_matches_the_published_2022_files(catalog):
    by_name = {e.name: e for e in catalog}
    files = catalog_file_names(catalog)
    stems = sorted(p.name[:-4] for p in SHARED_2022.glob("*.npy"))
    assert stems
    for stem in stems:
        assert stem in files, f"{stem} is published but missing from the catalog"
    for name, entry in by_name.items():
        if (SHARED_2022 / f"{name}.npy").is_file():
            track = load_track(SHARED_2022 / f"{name}.npy")
            assert track.length_m == pytest.approx(entry.length_m, rel=0.01), name
            assert track.width_m == pytest.approx(entry.width_m, abs=0.02), name


def test_lookup_file_name(catalog):
    entry, stem = lookup_file_name("2022_MAY_PRO_cw.npy", catalog)
    assert entry.name == "2022_may_pro" and stem == "2022_may_pro_cw"
    entry, stem = lookup_file_name("monaco_building", catalog)
    assert stem == "Monaco_building" and entry.display_name == "European Seaside Circuit - Buildings"
    with pytest.raises(TrackError) as exc:
        lookup_file_name("2022_july_open_cw", catalog)
    assert "2022_july_open_cw: unknown track name" in str(exc.value)
    with pytest.raises(TrackError, match="racingline tracks list"):
        lookup_file_name("nope", catalog)


def test_lookup_suggests_close_names(catalog):
    with pytest.raises(TrackError) as exc:
        lookup_file_name("2022_may_pr", catalog)
    assert "2022_may_pr: unknown track name (closest: 2022_may_pro" in str(exc.value)
    assert close_track_names("MONACO_BUILDINGS", catalog_file_names(catalog))[0] == "Monaco_building"
    assert close_track_names("zzzzzz", catalog_file_names(catalog)) == []


def test_local_track_names(tmp_path):
    save_track_array(generate_track(0), tmp_path / "a" / "mine.npy")
    save_track_array(generate_track(1), tmp_path / "b" / "mine.npy")
    save_track_array(generate_track(2), tmp_path / "b" / "other.npy")
    (tmp_path / "b" / "notes.txt").write_text("x")
    assert local_track_names([tmp_path / "a", tmp_path / "b", tmp_path / "missing"]) == ["mine", "other"]


def test_not_found_hint_downloads_only_catalog_names(catalog, tmp_path):
    save_track_array(generate_track(0), tmp_path / "kidney_long.npy")
    hint = not_found_hint("2022_MAY_PRO_cw.npy", dirs=[tmp_path], entries=catalog)
    assert hint == "Download it with `racingline tracks download 2022_may_pro_cw` or give a path to a .npy file"
    hint = not_found_hint("kidney_lng", dirs=[tmp_path], entries=catalog)
    assert "\n" not in hint and "racingline tracks download" not in hint
    assert hint.startswith("kidney_lng is not a known DeepRacer track (closest: kidney_long")
    assert "local tracks: kidney_long" in hint and "racingline tracks list" in hint
    hint = not_found_hint("zzzzzz", dirs=[tmp_path / "none"], entries=catalog)
    assert "closest" not in hint and "local tracks" not in hint and "not a known DeepRacer track" in hint


def test_not_found_hint_lists_at_most_a_few_local_names(catalog, tmp_path):
    for i in range(12):
        save_track_array(generate_track(i), tmp_path / f"t{i:02d}.npy")
    hint = not_found_hint("qqq", dirs=[tmp_path], entries=catalog, max_local=3)
    assert "local tracks: t00, t01, t02, ... (12 in all)" in hint


def test_local_copies(catalog, tmp_path):
    entry = next(e for e in catalog if e.name == "2022_may_pro")
    first, second = tmp_path / "a", tmp_path / "b"
    assert local_copies(entry, [first, second]) == []
    save_track_array(generate_track(0), second / "2022_may_pro_ccw.npy")
    save_track_array(generate_track(0), first / "2022_may_pro.npy")
    assert local_copies(entry, [first, second]) == ["base", "ccw"]


def test_local_copies_default_dirs_include_the_cache(catalog, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("RACINGLINE_TRACKS", raising=False)
    entry = next(e for e in catalog if e.name == "Oval_track")
    save_track_array(generate_track(0), tmp_path / "cache" / "racingline" / "tracks" / "Oval_track.npy")
    assert local_copies(entry) == ["base"]


@pytest.mark.parametrize(
    "text, problem",
    [
        ("name,display_name\nx,y\n", "lacks column(s) season"),
        ("name,display_name,season,release_date,length_m,width_m,directions,notes\n"
         "a,A,2020,,abc,1.0,base,\n", ":2: track a: bad number"),
        ("name,display_name,season,release_date,length_m,width_m,directions,notes\n"
         "a,A,2020,,20,1.0,sideways,\n", "directions"),
        ("name,display_name,season,release_date,length_m,width_m,directions,notes\n"
         "../a,A,2020,,20,1.0,base,\n", "not a plain identifier"),
        ("name,display_name,season,release_date,length_m,width_m,directions,notes\n"
         "a,A,2020,,20,1.0,base,\nA,B,2020,,20,1.0,base,\n", ":3: track A is listed twice"),
        ("name,display_name,season,release_date,length_m,width_m,directions,notes\n"
         "a,A,2020,,-3,1.0,base,\n", "must be positive"),
    ],
)
def test_malformed_catalog_is_refused(tmp_path, text, problem):
    path = tmp_path / "catalog.csv"
    path.write_text(text)
    with pytest.raises(TrackError) as exc:
        load_catalog(path)
    assert problem in str(exc.value)
    assert str(path) in str(exc.value)


def test_missing_catalog_file(tmp_path):
    with pytest.raises(TrackError, match="cannot read the track catalog"):
        load_catalog(tmp_path / "nope.csv")
