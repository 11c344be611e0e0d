"""Time to competence of a training config: when the agent first laps unseen tracks near the best line's lap time.

Usage: python benchmarks/time_to_competence.py [--config default] [--set KEY=VALUE ...] [--tracks DIR]
       [--base-only] [--generated 25] [--saves all|kept] [--run RUN] [--work DIR] [--json out.json]

Trains ``racingline train --config CONFIG`` (by default exactly what a bare ``racingline train`` runs) as a
user runs it, in its own process, timed by the wall clock. Then, untimed, every save of the run (each
checkpoint, and ``model.zip``, the model the run kept) is evaluated as ``racingline eval --line-gap`` does:
deterministic, from waypoint 0, one lap's episode of at most 1,500 agent steps (60 s), on two sets of tracks
training never saw:

- ``2022``: every 2022 DeepRacer League track file in ``--tracks`` (the 19 base tracks and their ``_cw`` /
  ``_ccw`` copies, 53 files, each in its own direction);
- ``generated``: ``--generated`` generated tracks in both directions, of seeds from
  :data:`racingline.train.select.TEST_SEED` on, which neither training (seeds below ``2**31 - 1``) nor the
  run's model selection (:data:`~racingline.train.select.VALIDATION_SEED` on) ever draws.

Each lap is compared with the best racing line's lap on the same track, direction and start: the faster of
the ``mincurv`` and ``mintime`` lines driven by the line controller (:mod:`racingline.lines.reference`).
The targets (issue 13), per set: at least 98% of the tracks lapped with no off-track step (52 of 53), the
median lap at most 1.10x the line's, and no lap over 1.25x. Reported: the wall time of the first save that
meets the lap target, of the first that meets all of them, and how the kept model does.

``--run RUN`` evaluates an existing run instead of training one; wall times are then counted from its
``config.yaml``, written when training started. ``--saves kept`` evaluates ``model.zip`` only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TRACKS = REPO.parent / "shared" / "tracks" / "2022"
LAP_SHARE = 0.98
MEDIAN_RATIO = 1.10
MAX_RATIO = 1.25
EVAL_MAX_STEPS = 1500  # 60 s at frame skip 2: over 1.25x the best line's lap on every 2022 track


def _steps_of(model: Path) -> int:
    with zipfile.ZipFile(model) as zf:
        return int(json.loads(zf.read("data"))["num_timesteps"])


def saves(run: Path, which: str) -> list[tuple[str, int, Path]]:
    """``(name, steps, path)`` of the saves to evaluate: the checkpoints by steps, then ``model.zip``."""
    out = []
    if which == "all":
        for p in sorted((run / "checkpoints").glob("step_*.zip")):
            out.append((p.stem, int(p.stem.removeprefix("step_")), p))
    model = run / "model.zip"
    out.append(("model.zip (kept)", _steps_of(model), model))
    return out


def score(report) -> dict:
    """Laps, ratios to the line and whether the targets are met, for one save on one set of tracks."""
    n = len(report.tracks)
    laps, ratios, misses, backwards = 0, [], [], []
    for tr in report.tracks:
        ep = tr.episodes[0]
        if ep.reversed_steps:
            backwards.append(f"{tr.track} ({ep.reversed_steps} steps)")
        clean = ep.lap_complete and ep.off_track_count == 0
        laps += clean
        ratio = ep.line_ratio if clean else None
        if ratio is not None:
            ratios.append(ratio)
        if not clean:
            misses.append(f"{tr.track} ({ep.progress_pct:.0f}%, {ep.end})")
        elif ratio is None:
            misses.append(f"{tr.track} (lapped; no line lap to compare)")
        elif ratio > MAX_RATIO:
            misses.append(f"{tr.track} ({ratio:.2f}x)")
    need = math.ceil(LAP_SHARE * n - 1e-9)
    median = statistics.median(ratios) if ratios else None
    worst = max(ratios) if ratios else None
    lap_ok = laps >= need
    time_ok = bool(ratios) and len(ratios) == laps and median <= MEDIAN_RATIO and worst <= MAX_RATIO
    best = min(ratios) if ratios else None
    return {"tracks": n, "laps": laps, "laps_needed": need, "median_ratio": _r(median), "max_ratio": _r(worst),
            "min_ratio": _r(best), "faster_than_line": sum(r < 1.0 for r in ratios),
            "lap_target": lap_ok, "all_targets": lap_ok and time_ok, "misses": misses,
            "drove_backwards": backwards}


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def _x(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.3f}x"


def evaluate_saves(run: Path, t0: float, sets: dict[str, list], which: str) -> list[dict]:
    from racingline.evaluate.rollouts import evaluate

    rows = []
    for name, steps, path in saves(run, which):
        row = {"save": name, "steps": steps, "wall_s": round(path.stat().st_mtime - t0, 1)}
        for label, tracks in sets.items():
            t = time.perf_counter()
            report = evaluate(path, tracks, max_steps=EVAL_MAX_STEPS, line_gap=True)
            row[label] = score(report) | {"eval_s": round(time.perf_counter() - t, 1)}
        rows.append(row)
        print(f"  {name} ({steps} steps, {row['wall_s']} s): " + "; ".join(
            f"{k} {row[k]['laps']}/{row[k]['tracks']} laps, median {_x(row[k]['median_ratio'])}, "
            f"max {_x(row[k]['max_ratio'])}{' [targets met]' if row[k]['all_targets'] else ''}" for k in sets),
            file=sys.stderr, flush=True)
    return rows


def first(rows: list[dict], key: str, sets: list[str]) -> dict | None:
    checkpoints = [r for r in rows if r["save"] != "model.zip (kept)"] or rows
    hit = next((r for r in checkpoints if all(r[s][key] for s in sets)), None)
    return None if hit is None else {"save": hit["save"], "steps": hit["steps"], "wall_s": hit["wall_s"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="default", help="config name or file (default: default)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="config override passed to racingline train (repeatable)")
    parser.add_argument("--tracks", type=Path, default=DEFAULT_TRACKS, help="folder of the 2022 .npy track files")
    parser.add_argument("--base-only", action="store_true",
                        help="only the 19 base 2022 tracks, not their _cw/_ccw copies")
    parser.add_argument("--generated", type=int, default=25, help="held-out generated tracks (each both ways)")
    parser.add_argument("--saves", choices=("all", "kept"), default="all")
    parser.add_argument("--run", type=Path, default=None, help="evaluate this run instead of training one")
    parser.add_argument("--work", type=Path, default=Path("bench-competence"), help="scratch folder (replaced)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    from racingline.tracks.files import load_track
    from racingline.train.select import held_out_tracks

    files = sorted(args.tracks.glob("2022_*.npy"))
    if args.base_only:
        files = [p for p in files if not p.stem.endswith(("_cw", "_ccw"))]
    sets: dict[str, list] = {}
    if files:
        sets["2022"] = [load_track(p) for p in files]
    else:
        print(f"note: no 2022 track files (2022_*.npy) in {args.tracks}: generated tracks only", file=sys.stderr)
    if args.generated > 0:
        sets["generated"] = held_out_tracks(args.generated)
    if not sets:
        print("skipped: no tracks to evaluate on", file=sys.stderr)
        return 0
    result: dict = {"config": args.config, "sets": args.sets, "cpus": os.cpu_count(),
                    "targets": {"lap_share": LAP_SHARE, "median_ratio": MEDIAN_RATIO, "max_ratio": MAX_RATIO},
                    "tracks": {k: len(v) for k, v in sets.items()}}
    if args.run is None:
        work = args.work.absolute()
        if work.exists():
            import shutil

            shutil.rmtree(work)
        work.mkdir(parents=True)
        run = work / "run"
        cmd = [sys.executable, "-m", "racingline.cli", "train", "--config", args.config, "--run-dir", str(run),
               "--no-progress"] + [x for kv in args.sets for x in ("--set", kv)]
        print("timing: racingline " + " ".join(cmd[3:]), file=sys.stderr, flush=True)
        load = os.getloadavg()[0]
        t0 = time.time()
        with (work / "train.log").open("w") as log:
            rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
        if rc != 0:
            raise SystemExit(f"racingline train failed (exit {rc}); see {work / 'train.log'}")
        result["train_wall_s"] = round(time.time() - t0, 1)
        result["load_before"], result["load_after"] = load, os.getloadavg()[0]
        print(f"trained in {result['train_wall_s']} s", file=sys.stderr, flush=True)
    else:
        run = args.run.absolute()
        t0 = (run / "config.yaml").stat().st_mtime
        result["train_wall_s"] = round((run / "model.zip").stat().st_mtime - t0, 1)
    result["run"] = str(run)
    for name in ("pretrain.json", "selection.json"):
        if (run / name).is_file():
            data = json.loads((run / name).read_text())
            result[name.split(".")[0]] = data.get("kept", {"seconds": data.get("seconds")})
    rows = evaluate_saves(run, t0, sets, args.saves)
    kept = rows[-1]
    result |= {"first_lap_target": first(rows, "lap_target", list(sets)),
               "first_all_targets": first(rows, "all_targets", list(sets)),
               "kept": kept, "saves": rows}
    print(f"train wall time {result['train_wall_s']} s; first save meeting the lap target: "
          f"{result['first_lap_target']}; first meeting every target: {result['first_all_targets']}")
    for k in sets:
        s = kept[k]
        print(f"kept model on {k}: {s['laps']}/{s['tracks']} laps (need {s['laps_needed']}), median "
              f"{_x(s['median_ratio'])}, max {_x(s['max_ratio'])} the best line, {s['faster_than_line']} faster than it; "
              f"targets {'met' if s['all_targets'] else 'NOT met'}; misses: {', '.join(s['misses']) or 'none'}; "
              f"drove backwards: {', '.join(s['drove_backwards']) or 'never'}")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
