"""Wall time of an N-track evaluation spread over 1 and 2 local Ray workers, and the ratio.

    python benchmarks/eval_workers.py [--model RUN] [--tracks GLOB] [--n 19] [--max-steps 1000]
                                      [--workers 1 2] [--json out.json]

What a user waits for with ``racingline eval --workers K``: a local Ray started with K CPUs, K actors that
load the model, the tracks shared out, Ray shut down (all included). A plain local evaluation of the same
tracks is timed too, and every report is checked equal to it (a deterministic policy). Without ``--model``, a
small features policy is trained first (4096 steps on rounded_rectangle, not timed); it does not lap, so every
episode is kept to ``--max-steps`` (``env.terminate_on_off_track=false``) and each track costs about the same.
Tracks: the 19 base 2022 tracks in ``../shared/tracks/2022`` when present, else the project's tracks in both
directions.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import tempfile
import time
from pathlib import Path

from racingline.evaluate.rollouts import evaluate
from racingline.resources import PROJECT_TRACKS_DIR
from racingline.sweep.distributed import evaluate_on_ray
from racingline.tracks.files import load_track
from racingline.train.config import apply_overrides
from racingline.train.runs import load_run

SHARED_2022 = Path(__file__).resolve().parents[2] / "shared" / "tracks" / "2022"


def _tracks(pattern: str | None, n: int) -> list:
    if pattern is None and SHARED_2022.is_dir():
        paths = sorted(p for p in glob.glob(str(SHARED_2022 / "2022_*.npy")) if not p.endswith(("_cw.npy", "_ccw.npy")))
    elif pattern is None:
        paths = sorted(glob.glob(str(PROJECT_TRACKS_DIR / "*.npy")))
        tracks = [load_track(p) for p in paths] + [load_track(p).reversed() for p in paths]
        return tracks[:n]
    else:
        paths = sorted(glob.glob(os.path.expanduser(pattern)))
    return [load_track(p) for p in paths[:n]]


def _tiny_run(folder: Path) -> Path:
    from racingline.train.config import apply_overrides, load_config
    from racingline.train.training import train

    cfg = apply_overrides(load_config("default"), {
        "env.track": "rounded_rectangle", "n_envs": 1, "vec_env": "dummy", "total_timesteps": 4096,
        "checkpoint_every": 0, "ppo.n_steps": 256, "ppo.batch_size": 128})
    return train(cfg, run_dir=folder / "run", progress=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="run folder to evaluate (default: train a small one)")
    parser.add_argument("--tracks", help="glob of track files (default: the 19 base 2022 tracks)")
    parser.add_argument("--n", type=int, default=19, help="number of tracks")
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()

    tracks = _tracks(args.tracks, args.n)
    with tempfile.TemporaryDirectory() as tmp:
        run = load_run(Path(args.model) if args.model else _tiny_run(Path(tmp)))
        if not args.model:
            run = dataclasses.replace(run, config=apply_overrides(run.config, {"env.terminate_on_off_track": False}))
        model = run
        print(f"{len(tracks)} tracks, max {args.max_steps} steps per episode, cores: {os.cpu_count()}")
        t0 = time.perf_counter()
        local = evaluate(model, tracks, max_steps=args.max_steps).to_dict()
        local_s = time.perf_counter() - t0
        print(f"local (no Ray): {local_s:.1f} s; laps {local['summary']['laps_completed']}/{len(tracks)}")
        figures = {"tracks": len(tracks), "max_steps": args.max_steps, "cores": os.cpu_count(), "local_s": local_s,
                   "workers": {}}
        for k in args.workers:
            t0 = time.perf_counter()
            report = evaluate_on_ray(model, tracks, max_steps=args.max_steps, workers=k).to_dict()
            wall_s = time.perf_counter() - t0
            same = report == local
            figures["workers"][str(k)] = {"wall_s": wall_s, "identical_to_local": same}
            print(f"{k} Ray worker(s): {wall_s:.1f} s (identical to local: {same})")
        one, two = figures["workers"].get("1"), figures["workers"].get("2")
        if one and two:
            figures["ratio_1_over_2"] = one["wall_s"] / two["wall_s"]
            print(f"ratio 1 worker / 2 workers: {figures['ratio_1_over_2']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
