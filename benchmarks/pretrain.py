"""Time to competence of the default config with and without demonstrations of the line controller.

Usage: python benchmarks/pretrain.py [--episodes 100] [--timesteps 150000] [--dagger-rounds 4]
       [--checkpoint-every 25000] [--baseline] [--baseline-timesteps 600000] [--tracks DIR] [--work DIR]
       [--best-lines FILE] [--json out.json]

With demonstrations, timed from the first command to the last model written (wall clock, the commands
run as a user runs them, each in its own process)::

    racingline record --driver line:mincurv --track generated --episodes N --out DS   # controller laps
    racingline train --pretrain DS --dagger-rounds K --timesteps T --run-dir RUN      # clone, then PPO

Without: ``racingline train --timesteps T0`` alone. Every checkpoint (every ``--checkpoint-every`` steps)
and the final model are then evaluated, untimed, on every 2022 track file (``--tracks``: the 19 base tracks
and their ``_cw``/``_ccw`` copies, each in its own direction, from waypoint 0, deterministic, as
``racingline eval --tracks '.../2022_*'`` does), and each lap compared with the best line's lap on that file:
the fastest of the ``mincurv``, ``k1999`` and ``mintime`` lines driven from a standing start by the line
controller (:func:`racingline.lines.drive.drive_line`, frame skip 1, as ``benchmarks/lines_2022.py``; cached
in ``--best-lines``). Competence: at least 95% of the track files lapped within 1.15x the best line.
Time to competence: the wall time at the first save that is competent (target: at most 300 s).

Both runs keep the default config's PPO as it was when these figures were measured: its own demonstrations,
model selection and road widths (added later; ``benchmarks/time_to_competence.py`` measures the default
config as it is) are turned off (``AS_MEASURED``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TRACKS = REPO.parent / "shared" / "tracks" / "2022"
BEST_METHODS = ("mincurv", "k1999", "mintime")
LAP_RATIO = 1.15
SHARE = 0.95
BUDGET_S = 300.0
EVAL_MAX_STEPS = 1500  # 60 s at frame skip 2: more than 1.15x any best 2022 lap
AS_MEASURED = ("--set", "demos.episodes=0", "--set", "select.generated=0", "--set", "env.generated_width_m=null")


def track_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("2022_*.npy"))


def best_lines(paths: list[Path], cache: Path) -> dict[str, dict]:
    """Best driven line lap per track file (cached in ``cache``, keyed by file name)."""
    from racingline.lines.drive import drive_line
    from racingline.lines.optimize import optimize_line
    from racingline.tracks.files import load_track

    known = json.loads(cache.read_text()) if cache.is_file() else {}
    for path in paths:
        if path.stem in known:
            continue
        track = load_track(path)
        laps = {}
        for method in BEST_METHODS:
            r = drive_line(optimize_line(track, method, margin_m=0.05), track)
            laps[method] = round(r.lap_time_s, 3) if r.lap_complete and r.off_track_steps == 0 else None
        done = {m: t for m, t in laps.items() if t is not None}
        method = min(done, key=done.get) if done else None
        known[path.stem] = {"best_s": done[method] if method else None, "method": method, "laps": laps}
        print(f"  best line {path.stem}: {known[path.stem]['best_s']} s ({method})", file=sys.stderr, flush=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(known, indent=1) + "\n")
    return {p.stem: known[p.stem] for p in paths}


def _cli(*args: str, log: Path) -> float:
    """Run ``racingline ARGS`` (its output to ``log``); the wall seconds it took."""
    t0 = time.perf_counter()
    with log.open("a") as out:
        rc = subprocess.run([sys.executable, "-m", "racingline.cli", *args], stdout=out, stderr=subprocess.STDOUT,
                            check=False).returncode
    if rc != 0:
        raise SystemExit(f"racingline {' '.join(args)} failed (exit {rc}); see {log}")
    return time.perf_counter() - t0


def _saves(run: Path) -> list[tuple[int, Path]]:
    """(steps, model) of every checkpoint and the final model of a run, by steps."""
    out = []
    for p in (run / "checkpoints").glob("step_*.zip"):
        out.append((int(p.stem.removeprefix("step_")), p))
    model = run / "model.zip"
    if model.is_file():
        import zipfile

        with zipfile.ZipFile(model) as zf:
            steps = int(json.loads(zf.read("data"))["num_timesteps"])
        if all(s != steps for s, _ in out):
            out.append((steps, model))
    return sorted(out)


def evaluate_saves(run: Path, t_start: float, tracks: list[Path], best: dict[str, dict]) -> list[dict]:
    """Evaluate each save of ``run``; its wall time is its file's modification time minus ``t_start``."""
    from racingline.evaluate.rollouts import evaluate

    rows = []
    for steps, model in _saves(run):
        report = evaluate(model, tracks, max_steps=EVAL_MAX_STEPS)
        laps, within, ratios = 0, 0, []
        misses = []
        for tr in report.tracks:
            ep = tr.episodes[0]
            ref = best[Path(tr.source).stem if tr.source else tr.track]["best_s"]
            ratio = ep.lap_time_s / ref if ep.lap_complete and ref else None
            laps += ep.lap_complete
            if ratio is not None:
                ratios.append(ratio)
            if ratio is not None and ratio <= LAP_RATIO:
                within += 1
            else:
                misses.append(f"{tr.track} ({f'{ratio:.2f}x' if ratio else f'{ep.progress_pct:.0f}%'})")
        ratios.sort()
        need = math.ceil(SHARE * len(tracks))
        rows.append({"steps": steps, "wall_s": round(model.stat().st_mtime - t_start, 1), "laps": laps,
                     "within_ratio": within, "tracks": len(tracks), "competent": within >= need,
                     "median_ratio": round(ratios[len(ratios) // 2], 4) if ratios else None,
                     "max_ratio": round(ratios[-1], 4) if ratios else None, "misses": misses})
        r = rows[-1]
        print(f"  {run.name} step {steps}: {r['wall_s']} s, laps {laps}/{len(tracks)}, within {LAP_RATIO}x "
              f"{within}/{len(tracks)}, median ratio {r['median_ratio']}", file=sys.stderr, flush=True)
    return rows


def summary(rows: list[dict], phases: dict[str, float]) -> dict:
    first = next((r for r in rows if r["competent"]), None)
    best = max(rows, key=lambda r: (r["within_ratio"], -r["wall_s"])) if rows else None
    return {"phases_s": phases, "time_to_competence_s": first["wall_s"] if first else None,
            "competent_at_steps": first["steps"] if first else None,
            "best": best, "meets_target": bool(first and first["wall_s"] <= BUDGET_S), "saves": rows}


def with_demos(args: argparse.Namespace, tracks: list[Path], best: dict) -> dict:
    work = args.work / "demos"
    if work.exists():
        import shutil

        shutil.rmtree(work)
    work.mkdir(parents=True)
    ds, run, log = work / "ds", work / "run", work / "log.txt"
    t0 = time.time()
    load = os.getloadavg()[0]
    phases = {"record_s": _cli("record", "--driver", "line:mincurv", "--track", "generated", "--episodes",
                               str(args.episodes), "--seed", str(args.seed), "--out", str(ds), log=log)}
    train = ["train", "--pretrain", str(ds), "--timesteps", str(args.timesteps), "--seed", str(args.seed),
             "--set", f"checkpoint_every={args.checkpoint_every}", "--run-dir", str(run), "--no-progress", *AS_MEASURED]
    if args.dagger_rounds:
        train += ["--dagger-rounds", str(args.dagger_rounds)]
    if args.pretrain_epochs:
        train += ["--pretrain-epochs", str(args.pretrain_epochs)]
    phases["train_s"] = _cli(*train, log=log)
    phases["total_s"] = round(time.time() - t0, 1)
    phases["load_before"], phases["load_after"] = load, os.getloadavg()[0]
    pre = json.loads((run / "pretrain.json").read_text())
    phases["pretrain_s"] = pre["seconds"]
    out = summary(evaluate_saves(run, t0, tracks, best), {k: round(v, 1) for k, v in phases.items()})
    out["pretrain"] = {k: pre[k] for k in ("episodes", "steps", "epochs", "heldout_action_error_before",
                                           "heldout_action_error", "heldout_value_error_before",
                                           "heldout_value_error", "action_std", "dagger")}
    out["settings"] = {"episodes": args.episodes, "timesteps": args.timesteps, "dagger_rounds": args.dagger_rounds,
                       "pretrain_epochs": args.pretrain_epochs, "seed": args.seed}
    return out


def baseline(args: argparse.Namespace, tracks: list[Path], best: dict) -> dict:
    work = args.work / "baseline"
    if work.exists():
        import shutil

        shutil.rmtree(work)
    work.mkdir(parents=True)
    run, log = work / "run", work / "log.txt"
    t0 = time.time()
    load = os.getloadavg()[0]
    phases = {"train_s": _cli("train", "--timesteps", str(args.baseline_timesteps), "--seed", str(args.seed),
                              "--set", f"checkpoint_every={args.checkpoint_every}", "--run-dir", str(run),
                              "--no-progress", *AS_MEASURED, log=log)}
    phases["load_before"], phases["load_after"] = load, os.getloadavg()[0]
    out = summary(evaluate_saves(run, t0, tracks, best), {k: round(v, 1) for k, v in phases.items()})
    out["settings"] = {"timesteps": args.baseline_timesteps, "seed": args.seed}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100, help="controller episodes recorded")
    parser.add_argument("--timesteps", type=int, default=150_000, help="PPO steps after pretraining")
    parser.add_argument("--dagger-rounds", type=int, default=4)
    parser.add_argument("--pretrain-epochs", type=int, default=None)
    parser.add_argument("--checkpoint-every", type=int, default=25_000)
    parser.add_argument("--baseline", action="store_true", help="also train without demonstrations")
    parser.add_argument("--no-demos", action="store_true", help="skip the run with demonstrations")
    parser.add_argument("--baseline-timesteps", type=int, default=600_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tracks", type=Path, default=DEFAULT_TRACKS, help="folder of the 2022 .npy tracks")
    parser.add_argument("--work", type=Path, default=Path("bench-pretrain"), help="scratch folder (replaced)")
    parser.add_argument("--best-lines", type=Path, default=None,
                        help="cache of the best line laps (default WORK/best_lines_2022.json)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    tracks = track_files(args.tracks)
    if not tracks:
        print(f"skipped: no 2022 track files (2022_*.npy) in {args.tracks}", file=sys.stderr)
        return 0
    args.work = args.work.absolute()
    args.work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    best = best_lines(tracks, args.best_lines or args.work / "best_lines_2022.json")
    result: dict = {"tracks": len(tracks), "lap_ratio": LAP_RATIO, "share": SHARE, "budget_s": BUDGET_S,
                    "cpus": os.cpu_count()}
    if not args.no_demos:
        result["with_demos"] = with_demos(args, tracks, best)
    if args.baseline:
        result["without_demos"] = baseline(args, tracks, best)
    for name in ("with_demos", "without_demos"):
        if name in result:
            r = result[name]
            b = r["best"] or {}
            print(f"{name}: time to competence {r['time_to_competence_s']} s (target <= {BUDGET_S:g} s); best save "
                  f"at {b.get('wall_s')} s ({b.get('steps')} steps): {b.get('within_ratio')}/{len(tracks)} within "
                  f"{LAP_RATIO}x, {b.get('laps')} laps, median ratio {b.get('median_ratio')}; phases {r['phases_s']}")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
