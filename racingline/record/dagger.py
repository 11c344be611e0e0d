"""DAgger: the cloned policy drives, the line controller labels the states it visits, and cloning goes on.

Behaviour cloning learns the expert's actions on the expert's own states; a cloned policy drifts off
them and meets states it never saw. Each DAgger round (Ross, Gordon and Bagnell, 2011) drives episodes of
the config's env with the current policy (deterministic, through the training observation pipeline),
labels every visited state with the action the expert would take there (the line controller,
:class:`~racingline.record.recorder.LineDriver` on a ``mincurv`` line of the episode's track and
direction; on TORCS, :class:`~racingline.torcs.expert.TorcsLineDriver`), adds those steps to the cloning
set and trains on the aggregate again. The rewards are the policy's own, so the critic also learns the
returns of the policy it will fine-tune.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from racingline.errors import ConfigError
from racingline.record.bc import BehaviourCloning, Demonstrations

__all__ = ["check_dagger", "collect_dagger", "dagger", "EXPERT"]

#: The expert's line: optimised per track and direction.
EXPERT = "mincurv"


@dataclass
class _Episode:
    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray


def check_dagger(cfg: Any, rounds: int) -> None:
    """DAgger needs the line controller's actions: CarRacing's continuous ones (:class:`ConfigError` otherwise)."""
    if int(rounds) < 0:
        raise ConfigError(f"dagger_rounds={rounds}: must be 0 or more")
    if rounds and (cfg.env.action_space is not None or not cfg.env.continuous):
        what = f"the DeepRacer action space {cfg.env.action_space}" if cfg.env.action_space else "discrete actions"
        raise ConfigError(f"--dagger-rounds: the expert (the line controller) drives CarRacing's continuous actions, "
                          f"but the config uses {what}")


def _stack(frames: list[np.ndarray], n_stack: int) -> np.ndarray:
    """The last ``n_stack`` frames on the last axis, zeros before the episode's start (``VecFrameStack``)."""
    if n_stack == 1:
        return frames[-1]
    recent = frames[-n_stack:]
    pad = [np.zeros_like(frames[0])] * (n_stack - len(recent))
    return np.concatenate(pad + recent, axis=-1)


def collect_dagger(bc: BehaviourCloning, env_kwargs: dict[str, Any], *, episodes: int, seed: int = 0,
                   stop: threading.Event | None = None, driver: Any = None) -> tuple[Demonstrations | None, dict]:
    """Drive ``episodes`` episodes with ``bc``'s policy; every step labelled with the expert's action.

    Returns the labelled episodes (``None`` when stopped before one ended) and a summary: episodes, steps,
    laps, mean progress (percent) and the RMSE of the policy's actions against the expert's labels.
    """
    import torch

    from racingline.record.recorder import line_driver_for
    from racingline.sim.wrappers import make_env

    expert = driver if driver is not None else line_driver_for(env_kwargs.get("sim", "carracing"), EXPERT)
    n_stack = bc.demos.n_stack
    env = make_env(**env_kwargs)
    done: list[_Episode] = []
    laps, progress, sq, n = 0, [], 0.0, 0
    try:
        for i in range(int(episodes)):
            obs, _ = env.reset(seed=int(seed) + i)
            base = env.unwrapped
            expert.reset(base.state)
            frames, labels, rewards, terms = [np.asarray(obs)], [], [], []
            while True:
                if stop is not None and stop.is_set():
                    break
                label = expert.act(base.state)
                with torch.no_grad():
                    action = bc.act(_stack(frames, n_stack)[None])[0]
                obs, reward, terminated, truncated, _ = env.step(action)
                frames.append(np.asarray(obs))
                labels.append(label)
                rewards.append(float(reward))
                terms.append(bool(terminated))
                sq += float(((action - label) ** 2).sum())
                n += label.size
                if terminated or truncated:
                    break
            if not (terms and (terms[-1] or truncated)):
                break  # stopped mid-episode: dropped
            state = base.state
            laps += bool(state.lap_complete)
            progress.append(float(state.progress))
            done.append(_Episode(np.stack(frames), np.stack(labels).astype(np.float32), np.asarray(rewards),
                                 np.asarray(terms), np.asarray([False] * (len(terms) - 1) + [not terms[-1]])))
    finally:
        env.close()
    summary = {"episodes": len(done), "steps": sum(len(e.actions) for e in done), "laps": laps,
               "mean_progress": round(float(np.mean(progress)), 2) if progress else None,
               "action_rmse_vs_expert": round(float(np.sqrt(sq / n)), 4) if n else None}
    demos = Demonstrations.from_episodes(done, n_stack, source="dagger") if done else None
    return demos, summary


def dagger(bc: BehaviourCloning, env_kwargs: dict[str, Any], *, rounds: int, episodes: int = 8, epochs: int = 10,
           seed: int = 0, stop: threading.Event | None = None, expert: str = EXPERT) -> list[dict[str, Any]]:
    """``rounds`` rounds of DAgger on ``bc`` (see the module docstring); one summary per round.

    Round ``k`` drives with seeds ``seed + 10_000 * (k + 1) + i`` (not the dataset's), then trains ``epochs``
    passes over the aggregated steps. ``expert``: the line method the controller drives (per track and
    direction); a run's own demonstrations use their driver's, so the labels match the recorded laps.
    """
    import time

    from racingline.record.recorder import line_driver_for

    driver = line_driver_for(env_kwargs.get("sim", "carracing"), expert)
    log = []
    for k in range(int(rounds)):
        if stop is not None and stop.is_set():
            break
        t0 = time.perf_counter()
        more, summary = collect_dagger(bc, env_kwargs, episodes=episodes, seed=seed + 10_000 * (k + 1), stop=stop,
                                       driver=driver)
        if more is None:
            break
        t1 = time.perf_counter()
        bc.add(more)
        losses = bc.fit(epochs, stop)
        summary.update(round=k + 1, epochs=len(losses), bc_loss=round(losses[-1], 6) if losses else None,
                       train_steps=len(bc.train_idx), drive_s=round(t1 - t0, 1),
                       fit_s=round(time.perf_counter() - t1, 1))
        log.append(summary)
    return log
