"""Racing lines on the 2022 league tracks: estimated against driven lap times, for every method.

Usage: python benchmarks/lines_2022.py [--tracks DIR] [--methods centerline,k1999,mincurv,mintime]
       [--speed-scale 0.95] [--margin-m 0.05] [--frame-skip 1] [--only NAME ...] [--json out.json]

For each base track (``NAME.npy``; the ``_cw``/``_ccw`` copies are skipped) and each method, the line is
optimised (:func:`racingline.lines.optimize.optimize_line`), then driven once from a standing start at
waypoint 0 by the line follower (:func:`racingline.lines.drive.drive_line`) at ``--speed-scale`` of the
measured car limits. Reported: the driven profile's flying and standing-start estimates, the driven lap,
driven / standing estimate, off-track steps, and the largest distance from the line (over the lap, and
after the first 2 m, since the car starts on the centerline). A lap meets the targets when it is complete,
never leaves the road and takes at most 1.10x its estimate. Per track, the best line's driven lap over the
centerline's, and its median over the tracks (target: at most 0.93).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TRACKS = REPO.parent / "shared" / "tracks" / "2022"
DEFAULT_METHODS = ("centerline", "k1999", "mincurv", "mintime")
RATIO_TARGET = 1.10
BEST_TARGET = 0.93


def base_tracks(folder: Path, only: list[str]) -> list[Path]:
    paths = sorted(p for p in folder.glob("*.npy") if not p.stem.endswith(("_cw", "_ccw")))
    if only:
        paths = [p for p in paths if any(o in p.stem for o in only)]
    return paths


def run(args: argparse.Namespace) -> dict:
    from racingline.lines.drive import drive_line
    from racingline.lines.limits import load_limits
    from racingline.lines.optimize import optimize_line
    from racingline.tracks.files import load_track

    limits = load_limits()
    rows = []
    t_start = time.perf_counter()
    for path in base_tracks(args.tracks, args.only):
        track = load_track(path)
        for method in args.methods:
            t0 = time.perf_counter()
            line = optimize_line(track, method, margin_m=args.margin_m, limits=limits)
            t1 = time.perf_counter()
            r = drive_line(line, track, limits=limits, speed_scale=args.speed_scale, frame_skip=args.frame_skip)
            t2 = time.perf_counter()
            meta = r.line.meta
            ratio = r.ratio
            rows.append({
                "track": track.name, "method": method, "length_m": round(line.length_m, 3),
                "est_flying_s": round(float(meta["lap_time_flying_s"]), 3),
                "est_standing_s": round(float(meta["lap_time_standing_s"]), 3),
                "driven_s": round(r.lap_time_s, 3) if r.lap_complete else None,
                "ratio": round(ratio, 4) if ratio is not None else None,
                "lap_complete": r.lap_complete, "progress": round(r.progress, 2),
                "off_track_steps": r.off_track_steps, "max_dev_m": round(r.max_dev_m, 4),
                "max_dev_settled_m": round(r.max_dev_settled_m, 4), "mean_dev_m": round(r.mean_dev_m, 4),
                "meets_targets": bool(r.lap_complete and r.off_track_steps == 0 and ratio is not None
                                      and ratio <= RATIO_TARGET),
                "optimize_s": round(t1 - t0, 3), "drive_s": round(t2 - t1, 3),
            })
            if args.progress:
                row = rows[-1]
                print(f"  {track.name} {method}: driven {row['driven_s']} s, estimate {row['est_standing_s']} s, "
                      f"off-track {row['off_track_steps']}", file=sys.stderr, flush=True)
    return {"speed_scale": args.speed_scale, "margin_m": args.margin_m, "frame_skip": args.frame_skip,
            "methods": list(args.methods), "tracks_dir": str(args.tracks), "rows": rows,
            "summary": summarise(rows, args.methods), "wall_s": round(time.perf_counter() - t_start, 1)}


def summarise(rows: list[dict], methods: list[str]) -> dict:
    met = sum(r["meets_targets"] for r in rows)
    ratios = [r["ratio"] for r in rows if r["ratio"] is not None]
    per_track = []
    for name in dict.fromkeys(r["track"] for r in rows):
        mine = {r["method"]: r for r in rows if r["track"] == name}
        centre = mine.get("centerline")
        others = [r for m, r in mine.items() if m != "centerline" and r["driven_s"] is not None]
        if centre is None or centre["driven_s"] is None or not others:
            continue
        best = min(others, key=lambda r: r["driven_s"])
        best_est = min((r for m, r in mine.items() if m != "centerline"), key=lambda r: r["est_standing_s"])
        per_track.append({"track": name, "best_method": best["method"], "best_driven_s": best["driven_s"],
                          "centerline_driven_s": centre["driven_s"],
                          "best_over_centerline": round(best["driven_s"] / centre["driven_s"], 4),
                          "best_estimate_over_centerline": round(best_est["est_standing_s"] / centre["est_standing_s"], 4)})
    by_method = {}
    for m in methods:
        rs = [r["ratio"] for r in rows if r["method"] == m and r["ratio"] is not None]
        by_method[m] = {"laps": sum(r["method"] == m for r in rows),
                        "meets_targets": sum(r["meets_targets"] for r in rows if r["method"] == m),
                        "median_ratio": round(statistics.median(rs), 4) if rs else None,
                        "max_ratio": round(max(rs), 4) if rs else None}
    bests = [p["best_over_centerline"] for p in per_track]
    return {
        "laps": len(rows), "meets_targets": met, "off_track_laps": sum(r["off_track_steps"] > 0 for r in rows),
        "incomplete_laps": sum(not r["lap_complete"] for r in rows),
        "median_ratio": round(statistics.median(ratios), 4) if ratios else None,
        "max_ratio": round(max(ratios), 4) if ratios else None,
        "max_dev_settled_m": max((r["max_dev_settled_m"] for r in rows), default=None),
        "by_method": by_method, "best_over_centerline": per_track,
        "median_best_over_centerline": round(statistics.median(bests), 4) if bests else None,
        "best_target": BEST_TARGET, "ratio_target": RATIO_TARGET,
    }


def show(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=132)
    table = Table(title=f"2022 tracks: lines driven at speed_scale {result['speed_scale']} "
                        f"(margin {result['margin_m']} m, frame skip {result['frame_skip']})")
    for col, just in (("track", "left"), ("method", "left"), ("est flying s", "right"),
                      ("est standing s", "right"), ("driven s", "right"), ("driven / est", "right"),
                      ("off-track steps", "right"), ("max dev m", "right"), ("dev after 2 m", "right")):
        table.add_column(col, justify=just, no_wrap=col == "track", min_width=20 if col == "track" else None)
    last = None
    for r in result["rows"]:
        name = r["track"].removeprefix("2022_") if r["track"] != last else ""
        last = r["track"]
        driven = f"{r['driven_s']:.2f}" if r["driven_s"] is not None else f"({r['progress']:.0f}%)"
        ratio = f"{r['ratio']:.3f}" if r["ratio"] is not None else "-"
        style = None if r["meets_targets"] else "bold red"
        table.add_row(name, r["method"], f"{r['est_flying_s']:.2f}", f"{r['est_standing_s']:.2f}", driven, ratio,
                      str(r["off_track_steps"]), f"{r['max_dev_m']:.3f}", f"{r['max_dev_settled_m']:.3f}",
                      style=style)
    console.print(table)

    s = result["summary"]
    best = Table(title="best line (fastest driven, not the centerline) over the centerline")
    for col in ("track", "best", "best s", "centerline s", "driven ratio", "estimate ratio"):
        best.add_column(col, justify="left" if col in ("track", "best") else "right", no_wrap=col == "track",
                        min_width=20 if col == "track" else None)
    for p in s["best_over_centerline"]:
        best.add_row(p["track"].removeprefix("2022_"), p["best_method"], f"{p['best_driven_s']:.2f}",
                     f"{p['centerline_driven_s']:.2f}", f"{p['best_over_centerline']:.3f}",
                     f"{p['best_estimate_over_centerline']:.3f}")
    console.print(best)
    for m, b in s["by_method"].items():
        console.print(f"{m:>10}: {b['meets_targets']}/{b['laps']} laps meet the targets, driven/estimate median "
                      f"{b['median_ratio']}, max {b['max_ratio']}")
    console.print(f"laps meeting the targets (complete, no off-track step, driven <= {s['ratio_target']}x the "
                  f"estimate): [bold]{s['meets_targets']}/{s['laps']}[/bold]; off-track laps {s['off_track_laps']}, "
                  f"incomplete {s['incomplete_laps']}; driven/estimate median {s['median_ratio']}, max "
                  f"{s['max_ratio']}; largest settled deviation {s['max_dev_settled_m']} m")
    console.print(f"best line / centerline, driven, median over {len(s['best_over_centerline'])} tracks: "
                  f"[bold]{s['median_best_over_centerline']}[/bold] (target <= {s['best_target']}); "
                  f"wall time {result['wall_s']} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=Path, default=DEFAULT_TRACKS, help="folder of the 2022 .npy tracks")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="comma-separated line methods")
    parser.add_argument("--speed-scale", type=float, default=None,
                        help="speed profile's fraction of the measured limits (default: the driver's)")
    parser.add_argument("--margin-m", type=float, default=0.05, help="line margin inside the road (m)")
    parser.add_argument("--frame-skip", type=int, default=1, help="physics steps per controller step")
    parser.add_argument("--only", action="append", default=[], help="only tracks whose name contains this")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--progress", action="store_true", help="print each lap to stderr as it is driven")
    args = parser.parse_args(argv)

    from racingline.lines.drive import DEFAULT_SPEED_SCALE
    from racingline.lines.optimize import METHODS

    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown or not args.methods:
        parser.error(f"--methods: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(METHODS)}")
    if args.speed_scale is None:
        args.speed_scale = DEFAULT_SPEED_SCALE
    if not args.speed_scale > 0:
        parser.error("--speed-scale: must be positive")
    if args.frame_skip < 1:
        parser.error("--frame-skip: must be >= 1")
    if not args.tracks.is_dir() or not base_tracks(args.tracks, args.only):
        print(f"error: no base tracks (NAME.npy) in {args.tracks}", file=sys.stderr)
        return 1
    if args.json is not None:
        from racingline.io import check_writable

        check_writable(args.json, what="--json")
    result = run(args)
    show(result)
    if args.json is not None:
        from racingline.io import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
