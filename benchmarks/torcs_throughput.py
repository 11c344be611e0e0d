"""TORCS throughput: TorcsEnv agent steps/s of one instance, the cost of a reset, and PPO env-steps/s with
several instances (the shipped ``configs/torcs.yaml`` env, SB3 PPO through ``racingline train``'s path).

    python benchmarks/torcs_throughput.py [--seconds 10] [--frame-skip 1 4] [--short-episodes 100]
                                          [--n-envs 1 2 4] [--ppo-steps 8192] [--json out.json]

Needs ``racingline torcs setup``. The single-env rows drive the scripted driver on road/g-track-1 (laps end
episodes, so resets are included) and report steps/s with and without resets, the mean reset time (with and
without the prelaunched next race) and the share of wall time spent in resets. The PPO rows train the shipped
config (16 road tracks) for ``--ppo-steps`` steps with each ``n_envs`` and report env-steps/s while learning
(rollouts and updates, from the end of the first iteration) and with the startup (imports, model, envs).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from pathlib import Path

from racingline.torcs.drivers import ScriptedDriver
from racingline.torcs.env import TorcsEnv


def single_env(seconds: float, frame_skip: int, prelaunch: bool, episode_steps: int | None = None) -> dict:
    """Scripted driving for ``seconds`` of wall time: steps/s, reset times, reset share. ``episode_steps``:
    end every episode after so many steps (early training's short episodes) instead of after a lap."""
    env = TorcsEnv("road/g-track-1", frame_skip=frame_skip, prelaunch=prelaunch, max_episode_steps=episode_steps)
    driver = ScriptedDriver()
    try:
        obs, _ = env.reset(seed=0)
        steps, resets, laps = 0, [], 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            obs, _, terminated, truncated, info = env.step(driver(obs))
            steps += 1
            if terminated or truncated:
                laps += bool(info["lap_complete"])
                t = time.perf_counter()
                obs, _ = env.reset()
                resets.append(time.perf_counter() - t)
        wall = time.perf_counter() - start
    finally:
        env.close()
    reset_s = sum(resets)
    return {"frame_skip": frame_skip, "prelaunch": prelaunch, "episode_steps": episode_steps, "steps": steps,
            "wall_s": round(wall, 2),
            "steps_per_s": round(steps / wall, 1), "steps_per_s_without_resets": round(steps / (wall - reset_s), 1),
            "robot_steps_per_s": round(steps * frame_skip / wall, 1), "resets": len(resets), "laps": laps,
            "mean_reset_s": round(statistics.mean(resets), 4) if resets else None,
            "reset_share": round(reset_s / wall, 4)}


def ppo(n_envs: int, steps: int) -> dict:
    """PPO on the shipped TORCS config with ``n_envs`` instances: env-steps/s over ``steps`` steps (PPO alone:
    without the config's demonstrations)."""
    import tempfile

    from racingline.train.training import resolve_config, train

    n_steps = max(64, 2048 // n_envs)
    cfg = resolve_config("torcs", [f"ppo.n_steps={n_steps}", f"ppo.batch_size={min(256, n_steps * n_envs)}",
                                   "checkpoint_every=0", "demos.episodes=0"], timesteps=steps, n_envs=n_envs)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run = train(cfg, run_dir=Path(tmp) / "run", progress=False)
        wall = time.perf_counter() - start
        with open(run / "progress.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    first, last = rows[0], rows[-1]  # learning only, from the end of the first iteration (startup excluded)
    learn_s = float(last["time_s"]) - float(first["time_s"])
    learn_steps = int(last["timesteps"]) - int(first["timesteps"])
    return {"n_envs": n_envs, "steps": steps, "wall_s": round(wall, 1), "wall_steps_per_s": round(steps / wall, 1),
            "env_steps_per_s": round(learn_steps / learn_s, 1) if learn_s > 0 else None,
            "iterations": len(rows), "episodes": int(last["episodes"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--frame-skip", type=int, nargs="*", default=[1, 4], help="Single-env rows (none: skip).")
    parser.add_argument("--n-envs", type=int, nargs="*", default=[1, 2, 4], help="PPO rows (none: skip PPO).")
    parser.add_argument("--ppo-steps", type=int, default=8192)
    parser.add_argument("--short-episodes", type=int, default=100,
                        help="Also drive episodes of this many steps (frame skip 4), as early in training (0: skip).")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    out: dict = {"single_env": [], "ppo": []}
    cases = [(fs, prelaunch, None) for fs in args.frame_skip for prelaunch in (True, False)]
    cases += [(4, prelaunch, args.short_episodes) for prelaunch in (True, False) if args.short_episodes > 0]
    for fs, prelaunch, episode_steps in cases:
        row = single_env(args.seconds, fs, prelaunch, episode_steps)
        out["single_env"].append(row)
        length = f"episodes of {episode_steps} steps" if episode_steps else "lap episodes"
        print(f"one env, frame_skip {fs}, {length}, prelaunch {prelaunch}: {row['steps_per_s']:.0f} steps/s "
              f"({row['steps_per_s_without_resets']:.0f} without resets, {row['robot_steps_per_s']:.0f} robot "
              f"steps/s), {row['resets']} resets of {row['mean_reset_s']} s, {100 * row['reset_share']:.1f}% "
              "of the time in resets")
    for n in args.n_envs:
        row = ppo(n, args.ppo_steps)
        out["ppo"].append(row)
        print(f"PPO, {n} TORCS instance(s): {row['env_steps_per_s']} env-steps/s while learning "
              f"({row['steps']} steps in {row['wall_s']} s with startup: {row['wall_steps_per_s']} steps/s)")
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
