"""Downloading track files: a real HTTP server on 127.0.0.1, local folders, and every failure mode."""

from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from racingline.tracks.download import (
    DownloadError,
    check_track_name,
    default_dest_dir,
    download_track,
    download_tracks,
    fetch_url,
    track_from_bytes,
)
from racingline.tracks.files import TrackError, load_track
from racingline.tracks.generator import generate_track

ROOT = Path(__file__).resolve().parents[2]
SHARED_2022 = ROOT.parent / "shared" / "tracks" / "2022"


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


GOOD = npy_bytes(generate_track(1, length_m=30.0))
OTHER = npy_bytes(generate_track(2, length_m=25.0))


class Route:
    """What the test server answers for one path."""

    def __init__(self, body: bytes = b"", status: int = 200, content_type: str = "application/octet-stream",
                 declared_length: int | None = None, delay_s: float = 0.0, send_length: bool = True) -> None:
        self.body = body
        self.status = status
        self.content_type = content_type
        self.declared_length = len(body) if declared_length is None else declared_length
        self.delay_s = delay_s
        self.send_length = send_length


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        server = self.server
        server.hits.append(self.path)
        route = server.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        if route.delay_s and server.stop.wait(route.delay_s):
            return
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        if route.send_length:
            self.send_header("Content-Length", str(route.declared_length))
        self.end_headers()
        try:
            self.wfile.write(route.body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - silence the server log
        pass


@pytest.fixture()
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.routes = {}
    srv.hits = []
    srv.stop = threading.Event()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.base = f"http://127.0.0.1:{srv.server_port}/npy/"
    try:
        yield srv
    finally:
        srv.stop.set()
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def files_in(folder: Path) -> list[str]:
    """All entries of ``folder`` (temporary files included), sorted; [] when it does not exist."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def assert_one_line_naming(exc: pytest.ExceptionInfo, name: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    assert name in msg
    return msg


# --- HTTP ---------------------------------------------------------------------------------------

def test_download_success_writes_validated_file(server, env):
    server.routes["/npy/2022_may_pro.npy"] = Route(GOOD)
    dest = env / "dest"
    result = download_track("2022_may_pro", dest=dest, source=server.base, timeout_s=5)
    assert result.status == "downloaded"
    assert result.path == dest / "2022_may_pro.npy"
    assert result.path.read_bytes() == GOOD
    assert files_in(dest) == ["2022_may_pro.npy"]
    assert server.hits == ["/npy/2022_may_pro.npy"]
    track = load_track(result.path)
    assert track.length_m == pytest.approx(30.0)
    assert result.length_m == pytest.approx(track.length_m)
    assert result.n_waypoints == track.n_waypoints


def test_name_is_case_insensitive_and_canonicalised(server, env):
    server.routes["/npy/reInvent2019_track_cw.npy"] = Route(GOOD)
    result = download_track("REINVENT2019_TRACK_CW.npy", dest=env / "d", source=server.base.rstrip("/"),
                            timeout_s=5)
    assert result.name == "reInvent2019_track_cw"
    assert files_in(env / "d") == ["reInvent2019_track_cw.npy"]


def test_already_present_is_not_fetched_again(server, env):
    server.routes["/npy/2022_may_pro.npy"] = Route(GOOD)
    dest = env / "dest"
    dest.mkdir()
    (dest / "2022_may_pro.npy").write_bytes(OTHER)
    result = download_track("2022_may_pro", dest=dest, source=server.base, timeout_s=5)
    assert result.status == "present"
    assert server.hits == []
    assert (dest / "2022_may_pro.npy").read_bytes() == OTHER


def test_force_fetches_again_and_replaces(server, env):
    server.routes["/npy/2022_may_pro.npy"] = Route(GOOD)
    dest = env / "dest"
    dest.mkdir()
    (dest / "2022_may_pro.npy").write_bytes(OTHER)
    result = download_track("2022_may_pro", dest=dest, source=server.base, force=True, timeout_s=5)
    assert result.status == "downloaded"
    assert server.hits == ["/npy/2022_may_pro.npy"]
    assert (dest / "2022_may_pro.npy").read_bytes() == GOOD
    assert files_in(dest) == ["2022_may_pro.npy"]


def test_404_gives_one_line_error_and_no_file(server, env):
    dest = env / "dest"
    with pytest.raises(DownloadError) as exc:
        download_track("2022_may_pro", dest=dest, source=server.base, timeout_s=5)
    msg = assert_one_line_naming(exc, "2022_may_pro")
    assert "HTTP 404" in msg
    assert files_in(dest) == []


def test_force_failure_keeps_the_existing_file(server, env):
    dest = env / "dest"
    dest.mkdir()
    (dest / "2022_may_pro.npy").write_bytes(OTHER)
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_track("2022_may_pro", dest=dest, source=server.base, force=True, timeout_s=5)
    assert files_in(dest) == ["2022_may_pro.npy"]
    assert (dest / "2022_may_pro.npy").read_bytes() == OTHER


def test_server_error_status(server, env):
    server.routes["/npy/2022_may_pro.npy"] = Route(b"oops", status=500)
    with pytest.raises(DownloadError) as exc:
        download_track("2022_may_pro", dest=env / "d", source=server.base, timeout_s=5)
    assert "HTTP 500" in assert_one_line_naming(exc, "2022_may_pro")
    assert files_in(env / "d") == []


def test_html_body_is_refused(server, env):
    page = b"<!DOCTYPE html>\n<html><head><title>Rate limited</title></head><body>Oops</body></html>\n"
    server.routes["/npy/2022_may_pro.npy"] = Route(page, content_type="text/html")
    with pytest.raises(DownloadError) as exc:
        download_track("2022_may_pro", dest=env / "d", source=server.base, timeout_s=5)
    assert "HTML page" in assert_one_line_naming(exc, "2022_may_pro")
    assert files_in(env / "d") == []


def test_truncated_file_is_refused(server, env):
    # The server sends all it announces, but the file itself is cut short.
    server.routes["/npy/2022_may_pro.npy"] = Route(GOOD[: len(GOOD) // 2])
    with pytest.raises(DownloadError) as exc:
        download_track("2022_may_pro", dest=env / "d", source=server.base, timeout_s=5)
    assert "truncated or corrupt" in assert_one_line_naming(exc, "2022_may_pro")
    assert files_in(env / "d") == []


def test_connection_closed_early_is_refused(server, env):
    # The server announces the full length, then closes after half of it.
    server.routes["/npy/2022_may_pro.npy"] = Route(GOOD[: len(GOOD) // 2], declared_length=len(GOOD))
    with pytest.raises(DownloadError) as exc:
        download_track("2022_may_pro", dest=env / "d", source=server.base, timeout_s=5)
    msg = assert_one_line_naming(exc, "2022_may_pro")
    assert f"after {len(GOOD) // 2} of {len(GOOD)} bytes" in msg
    assert files_in(env / "d") == []


def test_slow_server_hits_the_timeout(server, env):
    # Without the timeout the download would succeed after the server's 10 s delay (no error at all);
    # no wall-clock time is asserted.
    server.routes["/npy/2022_may_pro.npy"] = Route(GOOD, delay_s=10.0)
    with pytest.raises(DownloadError) as exc:
        download_track("2022_may_pro", dest=env / "d", source=server.base, timeout_s=0.5)
    assert "timed out after 0.5 s" in assert_one_line_naming(exc, "2022_may_pro")
    assert files_in(env / "d") == []


def test_announced_size_far_beyond_any_track_is_refused(server, env):
    server.routes["/npy/2022_may_pro.npy"] = Route(GOOD, declared_length=500 * 1024 * 1024)
    with pytest.raises(DownloadError) as exc:
        download_track("2022_may_pro", dest=env / "d", source=server.base, timeout_s=5)
    assert "far larger than any track" in assert_one_line_naming(exc, "2022_may_pro")
    assert files_in(env / "d") == []


def test_unannounced_oversize_body_is_cut_off(server, env):
    big = b"\x93NUMPY" + b"\0" * (2 * 1024 * 1024)
    server.routes["/npy/2022_may_pro.npy"] = Route(big, send_length=False)
    with pytest.raises(DownloadError) as exc:
        download_track("2022_may_pro", dest=env / "d", source=server.base, timeout_s=5,
                       max_bytes=64 * 1024)
    assert "more than 65536 bytes" in assert_one_line_naming(exc, "2022_may_pro")
    assert files_in(env / "d") == []


def test_valid_npy_that_is_not_a_track_is_refused(server, env):
    server.routes["/npy/2022_may_pro.npy"] = Route(npy_bytes(np.zeros((5, 3))))
    with pytest.raises(DownloadError) as exc:
        download_track("2022_may_pro", dest=env / "d", source=server.base, timeout_s=5)
    assert "shape (5, 3)" in assert_one_line_naming(exc, "2022_may_pro")
    assert files_in(env / "d") == []


@pytest.mark.parametrize("name", ["../2022_may_pro", "..", "a/b", "/etc/passwd", "x\\y", "", ".hidden",
                                  "2022_may_pro/../../evil", "name with space"])
def test_names_that_could_escape_are_refused_before_any_request(server, env, name):
    server.routes["/npy/2022_may_pro.npy"] = Route(GOOD)
    dest = env / "a" / "dest"
    with pytest.raises(DownloadError) as exc:
        download_track(name, dest=dest, source=server.base, timeout_s=5)
    assert "not a plain track name" in str(exc.value)
    assert "\n" not in str(exc.value)
    assert server.hits == []
    assert files_in(env) == []


def test_unknown_name_is_refused_before_any_request(server, env):
    server.routes["/npy/no_such_track.npy"] = Route(GOOD)
    with pytest.raises(DownloadError) as exc:
        download_track("no_such_track", dest=env / "d", source=server.base, timeout_s=5)
    msg = assert_one_line_naming(exc, "no_such_track")
    assert "unknown track" in msg and "racingline tracks list" in msg
    assert server.hits == []
    assert files_in(env / "d") == []


def test_unreachable_host(env):
    with pytest.raises(DownloadError) as exc:
        download_track("2022_may_pro", dest=env / "d", source="http://127.0.0.1:1/", timeout_s=2)
    assert "cannot reach" in assert_one_line_naming(exc, "2022_may_pro")


def test_fetch_url_returns_body(server):
    server.routes["/npy/x.npy"] = Route(b"hello")
    assert fetch_url(server.base + "x.npy", timeout_s=5) == b"hello"


def test_download_many_reports_each_and_continues_after_failures(server, env):
    server.routes["/npy/2022_may_pro.npy"] = Route(GOOD)
    server.routes["/npy/2022_may_pro_cw.npy"] = Route(OTHER)
    server.routes["/npy/2022_may_open.npy"] = Route(b"<html>nope</html>", content_type="text/html")
    dest = env / "dest"
    started, seen = [], []
    results = download_tracks(["2022_may_pro", "2022_may_open", "../x", "2022_may_pro_cw", "2022_may_pro"],
                              dest=dest, source=server.base, timeout_s=5,
                              on_start=started.append, on_result=seen.append)
    assert started == [4]
    assert [r.status for r in results] == ["downloaded", "failed", "failed", "downloaded"]
    assert seen == results
    assert "HTML page" in results[1].error and "not a plain track name" in results[2].error
    assert results[1].path is None
    assert files_in(dest) == ["2022_may_pro.npy", "2022_may_pro_cw.npy"]


def test_download_many_needs_names_or_all(env):
    with pytest.raises(DownloadError, match="no track names"):
        download_tracks([], dest=env / "d", source=str(env))
    with pytest.raises(DownloadError, match="not both"):
        download_tracks(["2022_may_pro"], all_tracks=True, dest=env / "d", source=str(env))


# --- local folders --------------------------------------------------------------------------------

def test_copy_from_local_folder(env):
    src = env / "mirror"
    src.mkdir()
    (src / "2022_may_pro.npy").write_bytes(GOOD)
    (src / "2022_may_open.npy").write_bytes(b"garbage, not numpy")
    dest = env / "dest"
    result = download_track("2022_may_pro", dest=dest, source=src)
    assert result.status == "copied"
    assert (dest / "2022_may_pro.npy").read_bytes() == GOOD
    with pytest.raises(DownloadError) as exc:
        download_track("2022_may_open", dest=dest, source=src)
    assert "not a NumPy .npy file" in assert_one_line_naming(exc, "2022_may_open")
    with pytest.raises(DownloadError) as exc:
        download_track("2022_june_pro", dest=dest, source=src)
    assert "no file 2022_june_pro.npy in source folder" in assert_one_line_naming(exc, "2022_june_pro")
    assert files_in(dest) == ["2022_may_pro.npy"]


def test_missing_source_folder_and_bad_scheme(env):
    with pytest.raises(DownloadError, match="source folder does not exist"):
        download_track("2022_may_pro", dest=env / "d", source=env / "nowhere")
    with pytest.raises(DownloadError, match="unsupported source"):
        download_track("2022_may_pro", dest=env / "d", source="ftp://example.invalid/npy/")
    assert files_in(env / "d") == []


def test_source_that_is_a_file_says_so(env):
    src = env / "2022_may_pro.npy"
    src.write_bytes(GOOD)
    with pytest.raises(DownloadError) as exc:
        download_track("2022_may_pro", dest=env / "d", source=src)
    msg = assert_one_line_naming(exc, str(src))
    assert "is a file, not a folder" in msg and "--source" in msg and "does not exist" not in msg
    with pytest.raises(DownloadError, match="is a file, not a folder"):  # once for all names, not once per name
        download_tracks(["2022_may_pro", "2022_may_open"], dest=env / "d", source=src)
    assert files_in(env / "d") == []


@pytest.mark.skipif(not SHARED_2022.is_dir(), reason="../shared/tracks/2022 is not present")
def test_copy_from_shared_2022_folder(env):
    dest = env / "dest"
    names = ["2022_may_pro", "2022_reinvent_champ_cw", "2022_summit_speedway_mini"]
    results = download_tracks(names, dest=dest, source=str(SHARED_2022))
    assert [r.status for r in results] == ["copied"] * 3
    for name in names:
        assert (dest / f"{name}.npy").read_bytes() == (SHARED_2022 / f"{name}.npy").read_bytes()
    assert load_track(dest / "2022_may_pro.npy").length_m == pytest.approx(63.9, abs=0.1)
    assert files_in(dest) == sorted(f"{n}.npy" for n in names)


# --- destination and names ------------------------------------------------------------------------

def test_default_dest_is_cache_or_first_racingline_tracks_folder(env, monkeypatch):
    assert default_dest_dir() == env / "cache" / "racingline" / "tracks"
    monkeypatch.setenv("RACINGLINE_TRACKS", f"{env / 'first'}:{env / 'second'}")
    assert default_dest_dir() == env / "first"


def test_default_dest_download_is_then_found_by_name(env):
    src = env / "mirror"
    src.mkdir()
    (src / "2022_may_pro.npy").write_bytes(GOOD)
    result = download_track("2022_may_pro", source=src)
    assert result.path == env / "cache" / "racingline" / "tracks" / "2022_may_pro.npy"
    assert load_track("2022_may_pro").source == str(result.path)


def test_dest_that_is_a_file_is_refused(env):
    (env / "afile").write_text("x")
    src = env / "mirror"
    src.mkdir()
    (src / "2022_may_pro.npy").write_bytes(GOOD)
    with pytest.raises(DownloadError, match="not a folder"):
        download_track("2022_may_pro", dest=env / "afile", source=src)


def test_check_track_name():
    assert check_track_name("2022_may_pro.npy") == "2022_may_pro"
    assert check_track_name("Monaco_building") == "Monaco_building"
    with pytest.raises(TrackError):
        check_track_name("../x")


def test_track_from_bytes_refuses_zip():
    buf = io.BytesIO()
    np.savez(buf, a=generate_track(0))
    with pytest.raises(DownloadError, match="zip"):
        track_from_bytes(buf.getvalue(), name="x", label="x")
