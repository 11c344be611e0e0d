"""The TORCS line controller against TORCS's robots: one lap from a standing start on each road track.

    python benchmarks/torcs_line.py [--track road/g-track-2 ...] [--robot bt] [--json out.json]

Needs ``racingline torcs setup``. For each track (default: every installed road track) the line controller
(:class:`racingline.torcs.expert.TorcsLineDriver`: a mincurv line optimised on the track, pure pursuit,
traction control) drives one lap in a ``TorcsEnv`` (frame skip 4, as the shipped config), and the robot
races alone from the same grid, results-only; both are laps driven in TORCS. Prints the controller's lap,
the speed profile's estimate of it, the robot's lap and their ratio, and a summary.
"""

from __future__ import annotations

import argparse
import json
import statistics

from racingline.torcs.anchors import robot_lap_times
from racingline.torcs.env import TorcsEnv
from racingline.torcs.expert import TorcsLineDriver
from racingline.torcs.install import find_torcs, list_tracks


def controller_lap(track: str, driver: TorcsLineDriver) -> dict:
    env = TorcsEnv(track, frame_skip=4, prelaunch=False, max_episode_steps=100_000)
    try:
        env.reset(seed=0)
        driver.reset(env.state)
        while True:
            _, _, terminated, truncated, info = env.step(driver.act(env.state))
            if terminated or truncated:
                break
    finally:
        env.close()
    return {"track": track, "lap": bool(info["lap_complete"]), "lap_s": info["lap_time_s"] if info["lap_complete"]
            else None, "progress": round(info["progress"], 1),
            "estimate_s": round(driver.line_for(track).meta["lap_time_standing_s"], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--track", action="append", help="TORCS track (repeatable); default: every road track")
    ap.add_argument("--robot", default="bt", help="the robot to compare with (default bt)")
    ap.add_argument("--json", help="also write the rows as JSON here")
    args = ap.parse_args()
    tracks = args.track or list_tracks(find_torcs(), "road")
    driver = TorcsLineDriver()
    robots = {r["track"]: r for r in robot_lap_times(tracks, [args.robot])}
    rows = []
    print(f"{'track':18} {'line s':>8} {'estimate':>9} {args.robot + ' s':>8} {'ratio':>6}")
    for t in tracks:
        row = controller_lap(t, driver)
        r = robots[t]
        row["robot_s"] = r["time_s"] if r["laps"] >= 1 else None
        row["ratio"] = round(row["lap_s"] / row["robot_s"], 3) if row["lap_s"] and row["robot_s"] else None
        rows.append(row)
        lap = f"{row['lap_s']:8.2f}" if row["lap"] else f"{row['progress']:7.1f}%"
        ratio = f"{row['ratio']:6.3f}" if row["ratio"] else "     —"
        print(f"{t:18} {lap} {row['estimate_s']:9.1f} {row['robot_s'] or 0:8.2f} {ratio}", flush=True)
    ratios = [r["ratio"] for r in rows if r["ratio"]]
    print(f"laps {len(ratios)}/{len(rows)}; ratio to {args.robot}: median {statistics.median(ratios):.3f}, "
          f"best {min(ratios):.3f}, worst {max(ratios):.3f}" if ratios else "no laps")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
