"""``racingline tracks list|download|show|generate`` end to end, and the track picture."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from racingline.cli import app
from racingline.tracks.files import TrackError, load_track, save_track_array
from racingline.tracks.generator import generate_track
from racingline.tracks.pictures import plot_track, track_figure, track_title

ROOT = Path(__file__).resolve().parents[2]
SHARED_2022 = ROOT.parent / "shared" / "tracks" / "2022"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args: str):
    return CliRunner().invoke(app, ["tracks", *args], env={"COLUMNS": "200"})


def assert_clean_error(result, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) >= 1 and all(line.startswith("error: ") for line in lines), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr
    return result.stderr


def mirror(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        save_track_array(generate_track(i, length_m=20.0 + i), folder / f"{name}.npy")
    return folder


# --- list ------------------------------------------------------------------------------------------

def test_list_shows_catalog_facts(env):
    result = run("list")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if line.strip().startswith("2022_may_pro "))
    for fact in ("Ross Super Speedway", "2022", "63.92", "1.07", "base cw ccw"):
        assert fact in row
    assert row.rstrip().endswith("-")  # no local copy
    assert "re:Invent 2018" in result.stdout and "Smile Speedway" in result.stdout


def test_list_marks_local_copies_and_filters(env):
    mirror(env / "cache" / "racingline" / "tracks", ["2022_may_pro", "2022_may_pro_cw"])
    result = run("list", "--local")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.strip().startswith("2022_")]
    assert len(rows) == 1 and rows[0].rstrip().endswith("base cw")
    assert "1 track(s)" in result.stdout
    result = run("list", "--season", "2019")
    assert result.exit_code == 0
    assert "Oval_track" in result.stdout and "2022_may_pro" not in result.stdout


# --- download --------------------------------------------------------------------------------------

def test_download_from_folder(env):
    src = mirror(env / "mirror", ["2022_may_pro", "2022_may_pro_cw"])
    dest = env / "dest"
    result = run("download", "2022_may_pro", "2022_may_pro_cw", "--source", str(src), "--dest", str(dest))
    assert result.exit_code == 0, result.output
    assert "copied" in result.stdout
    assert sorted(p.name for p in dest.iterdir()) == ["2022_may_pro.npy", "2022_may_pro_cw.npy"]
    again = run("download", "2022_may_pro", "--source", str(src), "--dest", str(dest))
    assert again.exit_code == 0 and "present" in again.stdout
    forced = run("download", "2022_may_pro", "--source", str(src), "--dest", str(dest), "--force")
    assert forced.exit_code == 0 and "copied" in forced.stdout


def test_download_default_dest_is_racingline_tracks_then_name_resolves(env, monkeypatch):
    src = mirror(env / "mirror", ["Oval_track"])
    monkeypatch.setenv("RACINGLINE_TRACKS", str(env / "mine"))
    result = run("download", "Oval_track", "--source", str(src))
    assert result.exit_code == 0, result.output
    assert (env / "mine" / "Oval_track.npy").is_file()
    assert load_track("Oval_track").source == str(env / "mine" / "Oval_track.npy")


def test_download_partial_failure_reports_each_and_exits_1(env):
    src = mirror(env / "mirror", ["2022_may_pro"])
    dest = env / "dest"
    result = run("download", "2022_may_pro", "2022_june_pro", "../evil", "--source", str(src),
                 "--dest", str(dest))
    err = assert_clean_error(result, "2022_june_pro", "'../evil': not a plain track name")
    assert len(err.strip().splitlines()) == 2
    assert "copied" in result.stdout
    assert sorted(p.name for p in dest.iterdir()) == ["2022_may_pro.npy"]
    assert not (env / "evil.npy").exists()


def test_download_errors_are_one_line(env):
    assert_clean_error(run("download", "no_such_track", "--source", str(env)), "no_such_track: unknown track")
    assert_clean_error(run("download", "--source", str(env)), "no track names")
    assert_clean_error(run("download", "2022_may_pro", "--source", str(env / "nowhere")),
                       "source folder does not exist")
    err = assert_clean_error(run("download", "2022_may_pro", "--source", "http://127.0.0.1:1/",
                                 "--timeout", "2", "--dest", str(env / "d")), "cannot reach")
    assert len(err.strip().splitlines()) == 1
    assert not (env / "d").exists() or not any((env / "d").iterdir())


def test_download_all_from_folder_copies_what_exists(env):
    src = mirror(env / "mirror", ["2022_may_pro", "Oval_track"])
    dest = env / "dest"
    result = run("download", "--all", "--source", str(src), "--dest", str(dest))
    assert result.exit_code == 1  # most catalog files are missing from this mirror
    assert sorted(p.name for p in dest.iterdir()) == ["2022_may_pro.npy", "Oval_track.npy"]
    assert "no file 2022_may_pro_cw.npy in source folder" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.skipif(not SHARED_2022.is_dir(), reason="../shared/tracks/2022 is not present")
def test_download_from_shared_2022(env):
    dest = env / "dest"
    result = run("download", "2022_reinvent_champ", "2022_march_open_ccw", "--source", str(SHARED_2022),
                 "--dest", str(dest))
    assert result.exit_code == 0, result.output
    assert (dest / "2022_reinvent_champ.npy").read_bytes() == (SHARED_2022 / "2022_reinvent_champ.npy").read_bytes()
    assert load_track(dest / "2022_march_open_ccw.npy").length_m == pytest.approx(48.07, abs=0.1)


# --- show ------------------------------------------------------------------------------------------

def test_show_writes_a_png(env):
    out = env / "pics" / "kidney.png"
    result = run("show", "kidney", "--out", str(out), "--every", "5")
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG_MAGIC)
    assert "length" in result.stdout and "width 1.07 m" in result.stdout
    assert [p.name for p in out.parent.iterdir()] == ["kidney.png"]  # no temporary file left


def test_show_default_out_and_path_argument(env):
    save_track_array(generate_track(5), env / "gen5.npy")
    result = run("show", str(env / "gen5.npy"))
    assert result.exit_code == 0, result.output
    assert (env / "gen5.png").read_bytes().startswith(PNG_MAGIC)


def test_show_errors(env):
    assert_clean_error(run("show", "2022_may_pro"), "2022_may_pro: no such track file", "looked in",
                       "racingline tracks download 2022_may_pro")
    assert_clean_error(run("show", "kidney", "--out", str(env / "k.xyz")), "unsupported picture format")
    assert not (env / "k.xyz").exists()
    (env / "bad.npy").write_bytes(b"not numpy")
    assert_clean_error(run("show", str(env / "bad.npy")), "bad.npy")


def test_track_figure_content():
    track = load_track("kidney")
    fig = track_figure(track, every=10)
    ax = fig.axes[0]
    title = ax.get_title()
    assert title == track_title(track)
    assert f"length {track.length_m:.2f} m" in title and f"width {track.width_m:.2f} m" in title
    labels = sorted(int(t.get_text()) for t in ax.texts if t.get_text())
    assert labels == list(range(0, track.n_waypoints, 10))
    arrows = [t for t in ax.texts if getattr(t, "arrow_patch", None) is not None]
    assert len(arrows) == 1
    (x0, y0), (x1, y1) = arrows[0].xyann, arrows[0].xy
    assert np.arctan2(y1 - y0, x1 - x0) == pytest.approx(track.headings_rad[0])
    assert any(line.get_label() == "start" for line in ax.lines)
    with pytest.raises(TrackError, match="every=0"):
        track_figure(track, every=0)


def test_plot_track_svg(tmp_path):
    out = plot_track(load_track("s_bend"), tmp_path / "s.svg")
    assert out.read_text().lstrip().startswith("<?xml")


# --- generate --------------------------------------------------------------------------------------

def test_generate_writes_loadable_deterministic_track(env):
    result = run("generate", "--seed", "3", "--length-m", "30", "--width-m", "1.5", "--out", "a.npy")
    assert result.exit_code == 0, result.output
    track = load_track(env / "a.npy")
    assert track.length_m == pytest.approx(30.0) and track.width_m == pytest.approx(1.5)
    assert "length 30.00 m" in result.stdout
    assert run("generate", "--seed", "3", "--length-m", "30", "--width-m", "1.5", "--out", "b.npy").exit_code == 0
    assert (env / "a.npy").read_bytes() == (env / "b.npy").read_bytes()
    buf = io.BytesIO((env / "a.npy").read_bytes())
    assert np.array_equal(np.load(buf), generate_track(3, 30.0, 1.5))


def test_generate_errors(env):
    assert_clean_error(run("generate", "--seed", "1", "--width-m", "3", "--out", "x.npy"), "width_m=3")
    assert_clean_error(run("generate", "--seed", "1", "--length-m", "2", "--out", "x.npy"), "length_m=2")
    assert_clean_error(run("generate", "--seed", "1", "--out", "x.txt"), "x.txt: the output file must end with .npy")
    assert not any(env.iterdir())
    result = run("generate", "--seed", "-1", "--out", "x.npy")
    assert result.exit_code != 0 and "Traceback" not in result.output
