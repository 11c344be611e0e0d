"""Tracks: files and validation, catalog, download, generator, pools and pictures.

The track-file API is re-exported here (``from racingline.tracks import load_track`` keeps working).
"""

from racingline.tracks.files import (
    CLOSE_GAP_FACTOR,
    MAX_TRACK_FILE_BYTES,
    MIN_WAYPOINTS,
    PROJECT_TRACKS_DIR,
    Track,
    TrackError,
    load_track,
    resolve_track_path,
    save_track_array,
    track_from_array,
    track_search_dirs,
    tracks_cache_dir,
    user_track_dirs,
)

__all__ = [
    "CLOSE_GAP_FACTOR", "MAX_TRACK_FILE_BYTES", "MIN_WAYPOINTS", "PROJECT_TRACKS_DIR", "Track", "TrackError",
    "load_track", "resolve_track_path", "save_track_array", "track_from_array", "track_search_dirs",
    "tracks_cache_dir", "user_track_dirs",
]
