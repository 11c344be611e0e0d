"""Cost of recording: agent steps/s with and without a dataset being written, side by side in one run, and
the memory of a long recording (flat: one episode is held at a time).

    python benchmarks/recording.py [--obs features|pixels] [--steps 20000] [--rounds 5] [--episodes 1000]

Speed: the line controller drives ``kidney`` laps (the default config's env: features, frame skip 2) with
and without :class:`racingline.record.wrapper.RecordEpisodes`, after a warm-up of both (lines optimised,
roads rasterised); rounds alternate, the median round of each is reported, writing included (each lap is
written when it ends). Target: ratio >= 0.9.

Memory: ``--episodes`` short episodes (50 steps, random starts) are recorded into one dataset; the process's
resident memory (RSS) is read after 10, 100, ... episodes. Flat means it does not grow with episodes.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from racingline.record.recorder import LineDriver
from racingline.record.wrapper import RecordEpisodes, RecordSpec
from racingline.sim.wrappers import make_env


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _drive(env, driver: LineDriver, steps: int, seed: int) -> float:
    base = env.unwrapped
    env.reset(seed=seed)
    driver.reset(base.state)
    t0 = time.perf_counter()
    for _ in range(steps):
        _, _, term, trunc, _ = env.step(driver.act(base.state))
        if term or trunc:
            env.reset()
            driver.reset(base.state)
    return steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--obs", default="features", choices=("features", "pixels"))
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--track", default="kidney")
    args = parser.parse_args()
    kw = dict(obs=args.obs, continuous=True, frame_skip=2, reward="progress", terminate_on_off_track=True,
              start_waypoint="random", max_episode_steps=1000)
    root = Path(tempfile.mkdtemp(prefix="racingline-bench-record-"))
    try:
        driver = LineDriver("mincurv")
        plain = make_env(args.track, **kw)
        rec = RecordEpisodes(make_env(args.track, **kw), RecordSpec(root / "speed"))
        t0 = time.perf_counter()
        rec.open()
        print(f"opening the dataset (Minari's Arrow writer loaded): {time.perf_counter() - t0:.2f} s, once")
        for env in (plain, rec):  # warm-up, not timed: both directions' lines optimised, roads rasterised
            _drive(env, driver, 2000, seed=100)
        rates: dict[str, list[float]] = {"without recording": [], "recording": []}
        before = rec.episodes_recorded
        for r in range(args.rounds):
            rates["without recording"].append(_drive(plain, driver, args.steps, seed=r))
            rates["recording"].append(_drive(rec, driver, args.steps, seed=r))
        written = rec.episodes_recorded - before
        rec.close()
        med = {name: statistics.median(v) for name, v in rates.items()}
        for name, v in med.items():
            print(f"{name:>18}: {v:8.0f} agent steps/s (rounds: {', '.join(f'{x:.0f}' for x in rates[name])})")
        print(f"ratio recording / without: {med['recording'] / med['without recording']:.3f} (target >= 0.9); "
              f"{written} laps written, {args.obs} observations")

        short = dict(kw, max_episode_steps=50)
        rec = RecordEpisodes(make_env(args.track, **short), RecordSpec(root / "memory"))
        rng = np.random.default_rng(0)
        marks = {10, 100, 250, 500, 750, 1000, args.episodes}
        t0 = time.perf_counter()
        for i in range(1, args.episodes + 1):
            rec.reset(seed=i)
            done = False
            while not done:
                action = np.array([rng.uniform(-0.5, 0.5), rng.uniform(0.3, 1.0), 0.0], np.float32)
                _, _, term, trunc, _ = rec.step(action)
                done = term or trunc
            if i in marks:
                print(f"after {i:5d} episodes ({rec.writer.total_episodes} in the dataset, "
                      f"{rec.writer.steps_written} steps): RSS {_rss_mib():7.1f} MiB, "
                      f"steps held {rec.writer.peak_held_steps} at most")
        print(f"{args.episodes} episodes recorded in {time.perf_counter() - t0:.1f} s")
        rec.close()
        plain.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
