"""Resident memory of a 9-env pixel training run (the tutorial's stack, fast renderer), all processes.

Usage: python benchmarks/memory_pixels.py [--renderer fast|pygame] [--rollouts 2]
Prints the peak summed RSS (MiB) of the training process and its env workers, sampled every 0.2 s.
"""

from __future__ import annotations

import argparse
import os
import threading
import time


def _rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renderer", default="fast", choices=["fast", "pygame"])
    parser.add_argument("--rollouts", type=int, default=2)
    args = parser.parse_args()

    import torch
    from stable_baselines3 import PPO

    from racingline.sim.wrappers import make_vec_env

    torch.set_num_threads(1)
    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        me = os.getpid()
        while not stop.is_set():
            total = _rss_mib(me) + sum(_rss_mib(c) for c in _children(me))
            peak[0] = max(peak[0], total)
            time.sleep(0.2)

    venv = make_vec_env(9, seed=0, track=None, renderer=args.renderer)  # (9, 64, 64, 4), VecNormalize rewards
    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    model = PPO("MlpPolicy", venv, n_steps=512, batch_size=128, learning_rate=1e-4, seed=0, device="cpu",
                policy_kwargs=dict(activation_fn=torch.nn.GELU, net_arch=dict(pi=[256], vf=[256]), ortho_init=False))
    model.learn(9 * 512 * args.rollouts)
    stop.set()
    watcher.join()
    venv.close()
    print(f"9-env pixel training ({args.renderer} renderer), {args.rollouts} rollouts: peak resident memory "
          f"{peak[0]:,.0f} MiB over all processes")


if __name__ == "__main__":
    main()
