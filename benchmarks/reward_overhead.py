"""Overhead of a DeepRacer reward file: the features env's agent steps/s with the built-in ``progress``
reward and with ``examples/rewards/follow_centerline.py``, side by side in one run.

    python benchmarks/reward_overhead.py [--steps 20000] [--rounds 5] [--track kidney]

Both envs drive the same seeded action sequence (resets included: an episode ends off the road);
rounds alternate between the two and the median round is reported. Target: ratio >= 0.85.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from racingline.sim.wrappers import make_env

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "rewards" / "follow_centerline.py"


def _rate(env, actions: np.ndarray) -> float:
    env.reset(seed=0)
    t0 = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    return len(actions) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--track", default="kidney")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    actions = np.stack([rng.uniform(-0.3, 0.3, args.steps), rng.uniform(0.2, 0.8, args.steps),
                        np.zeros(args.steps)], axis=1)
    kw = dict(obs="features", continuous=True, frame_skip=2, terminate_on_off_track=True, start_waypoint="random")
    envs = {"progress": make_env(args.track, reward="progress", **kw),
            "follow_centerline.py": make_env(args.track, reward=str(EXAMPLE), **kw)}
    rates: dict[str, list[float]] = {name: [] for name in envs}
    for _ in range(args.rounds):
        for name, env in envs.items():
            rates[name].append(_rate(env, actions))
    med = {name: statistics.median(r) for name, r in rates.items()}
    for name, r in med.items():
        print(f"{name:>22}: {r:8.0f} agent steps/s (rounds: {', '.join(f'{x:.0f}' for x in rates[name])})")
    ratio = med["follow_centerline.py"] / med["progress"]
    print(f"ratio follow_centerline.py / progress: {ratio:.3f} (target >= 0.85)")


if __name__ == "__main__":
    main()
