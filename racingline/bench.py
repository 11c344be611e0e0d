"""Side-by-side speed measurements: the reference pipeline against racingline's observation modes.

Four pipelines, all on CarRacing's procedural track of the same seed, all with frame skip 2:

(a) ``stock``: Gymnasium's ``CarRacing-v3`` with the reference tutorial's per-env stack
    (frame-skip wrapper, resize to 64x64, grayscale), drawing every physics frame with pygame;
(b) ``pixels-pygame``: ``DeepRacerEnv`` pixels drawn by CarRacing's pygame code, once per agent step;
(c) ``pixels-fast``: ``DeepRacerEnv`` pixels from the NumPy renderer;
(d) ``features``: ``DeepRacerEnv`` feature vector, nothing drawn.

Every episode is at most 500 agent steps (CarRacing-v3's 1000 frames). For each: agent steps/s of one env
in this process (seeded random actions), and for (a), (c), (d) the end-to-end PPO training throughput
(environment steps/s, 2 envs): (a) as the tutorial trains (SB3 PPO, SubprocVecEnv); (c), (d) through
``racingline train``'s own path (SplitVecEnv, FastActorCriticPolicy, one torch thread), once with the
tutorial's PPO settings and once with the pipeline's racingline config (``pixels``, ``default``).
Ratios are to (a), measured in the same run.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["PIPELINES", "CONFIG_FOR", "BenchRow", "BenchReport", "run_bench", "env_steps_per_s", "ppo_steps_per_s",
           "bench_config"]


def _stock(**_: Any):
    from racingline.sim.wrappers import make_stock_env

    return make_stock_env(frame_skip=2, size=64)


def _ours(obs: str, renderer: str = "fast") -> Callable[..., Any]:
    def build(**_: Any):
        from racingline.sim.wrappers import make_env

        return make_env(None, obs=obs, renderer=renderer, frame_skip=2, max_episode_steps=EPISODE_STEPS)

    return build


#: name -> (label, env builder, include in the PPO measurement)
PIPELINES: dict[str, tuple[str, Callable[..., Any], bool]] = {
    "stock": ("(a) CarRacing-v3 + tutorial stack", _stock, True),
    "pixels-pygame": ("(b) racingline pixels, pygame renderer", _ours("pixels", "pygame"), False),
    "pixels-fast": ("(c) racingline pixels, fast renderer", _ours("pixels", "fast"), True),
    "features": ("(d) racingline features", _ours("features"), True),
}


@dataclass
class BenchRow:
    """One pipeline's figures (``None`` where not measured)."""

    name: str
    label: str
    env_steps_per_s: float
    env_ratio: float | None = None
    #: PPO with the tutorial's settings (``configs/seed.yaml``): env steps/s, ratio to (a), and the
    #: share of wall time spent in gradient updates (the rest: collecting rollouts).
    ppo_steps_per_s: float | None = None
    ppo_ratio: float | None = None
    ppo_update_share: float | None = None
    #: PPO with the pipeline's own racingline config (``CONFIG_FOR``), same figures.
    ppo_config: str | None = None
    config_ppo_steps_per_s: float | None = None
    config_ppo_ratio: float | None = None
    config_ppo_update_share: float | None = None


@dataclass
class BenchReport:
    """The whole measurement, with the settings it ran under."""

    rows: list[BenchRow]
    seed: int
    env_seconds: float
    ppo_seconds: float
    max_rss_mib: float
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (for ``--json``)."""
        return asdict(self)


def env_steps_per_s(build: Callable[..., Any], seconds: float, seed: int = 0, warmup_steps: int = 20) -> float:
    """Agent steps per second of one env built by ``build``, random actions, resetting at episode end."""
    env = build()
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    for _ in range(warmup_steps):
        env.step(int(rng.integers(5)))
    steps = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        # Mostly gas with some steering, so the car actually drives along the road.
        action = 3 if rng.random() < 0.6 else int(rng.integers(5))
        _, _, terminated, truncated, _ = env.step(action)
        steps += 1
        if terminated or truncated:
            env.reset()
        if steps % 16 == 0 and time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


#: The racingline config whose PPO settings and env options each pipeline trains with ("racingline" column).
CONFIG_FOR = {"pixels-fast": "pixels", "features": "default"}
#: Agent steps per episode in every measurement: CarRacing-v3's limit (1000 frames at frame skip 2).
EPISODE_STEPS = 500


def _timed_learn(model, seconds: float, per_rollout: int) -> tuple[float, float]:
    """Train whole rollouts for ``seconds`` (after one warm-up rollout); (env steps/s, update time share)."""
    model.learn(per_rollout)  # warm-up: first rollout, buffers, threads
    update_s = [0.0]
    train = model.train

    def timed_train() -> None:
        t0 = time.perf_counter()
        train()
        update_s[0] += time.perf_counter() - t0

    model.train = timed_train  # type: ignore[method-assign]
    start = time.perf_counter()
    steps = 0
    while steps == 0 or time.perf_counter() - start < seconds:
        model.learn(per_rollout, reset_num_timesteps=False)
        steps += per_rollout
    elapsed = time.perf_counter() - start
    return steps / elapsed, update_s[0] / elapsed


def _stock_ppo(seconds: float, seed: int, n_envs: int) -> tuple[float, float]:
    """The reference: SB3's PPO, SubprocVecEnv, VecFrameStack 4, VecNormalize, the tutorial's settings."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import SubprocVecEnv, VecFrameStack, VecNormalize

    from racingline.sim.wrappers import _start_method

    venv = SubprocVecEnv([_stock for _ in range(n_envs)], start_method=_start_method())
    venv.seed(seed)
    venv = VecNormalize(VecFrameStack(venv, 4), norm_obs=False, norm_reward=True)
    try:
        model = PPO("MlpPolicy", venv, learning_rate=1e-4, n_steps=512, batch_size=128, n_epochs=10, seed=seed,
                    policy_kwargs=dict(activation_fn=torch.nn.GELU, net_arch=dict(pi=[256], vf=[256]),
                                       ortho_init=False), device="cpu", verbose=0)
        return _timed_learn(model, seconds, 512 * n_envs)
    finally:
        venv.close()


def bench_config(name: str, settings: str, seed: int = 0, n_envs: int = 2):
    """The training config of pipeline ``name`` (``pixels-fast`` or ``features``) under ``settings``
    (``tutorial`` or ``racingline``).

    ``tutorial``: ``configs/seed.yaml`` (the tutorial's env and PPO settings) with this pipeline's
    observation. ``racingline``: the pipeline's own config (:data:`CONFIG_FOR`). Either way on
    CarRacing's procedural track of the same seed as (a), ``EPISODE_STEPS`` steps per episode at most.
    """
    from racingline.train.config import apply_overrides, load_config

    obs = "features" if name == "features" else "pixels"
    cfg = load_config("seed" if settings == "tutorial" else CONFIG_FOR[name])
    over: dict[str, Any] = {"n_envs": n_envs, "seed": seed, "env.track": "random", "env.obs": obs,
                            "env.max_episode_steps": EPISODE_STEPS, "checkpoint_every": 0}
    if obs == "pixels":
        over["env.renderer"] = "fast"
    elif settings == "tutorial":
        over["env.frame_stack"] = 1  # the tutorial stacks images; a feature vector carries its own state
    return apply_overrides(cfg, over)


def ppo_steps_per_s(name: str, seconds: float, seed: int = 0, n_envs: int = 2,
                    settings: str = "tutorial") -> tuple[float, float]:
    """End-to-end PPO training throughput (env steps/s) of pipeline ``name`` with ``n_envs`` envs.

    ``stock``: the reference pipeline as the tutorial runs it (SB3 PPO, 2 subprocess envs). Otherwise
    racingline's own training path (``racingline train``'s vec env and model, one torch thread) on
    :func:`bench_config`. Trains whole rollouts until ``seconds`` have passed, at least one rollout.
    Returns (env steps/s, share of the time spent in PPO's gradient updates).
    """
    if name == "stock":
        return _stock_ppo(seconds, seed, n_envs)
    from racingline.train.training import _one_torch_thread, build_model, build_vec_env

    cfg = bench_config(name, settings, seed, n_envs)
    venv = build_vec_env(cfg)
    try:
        model = build_model(cfg, venv)
        with _one_torch_thread(str(model.device)):
            return _timed_learn(model, seconds, cfg.ppo.n_steps * n_envs)
    finally:
        venv.close()


def run_bench(env_seconds: float = 5.0, ppo_seconds: float = 20.0, seed: int = 0, ppo: bool = True,
              only: list[str] | None = None, on_row: Callable[[BenchRow], None] | None = None) -> BenchReport:
    """Measure every pipeline (or those in ``only``) side by side; ratios are to ``stock`` when it ran."""
    names = [n for n in PIPELINES if only is None or n in only]
    rows = []
    for name in names:
        label, build, in_ppo = PIPELINES[name]
        row = BenchRow(name=name, label=label, env_steps_per_s=env_steps_per_s(build, env_seconds, seed))
        if ppo and in_ppo:
            row.ppo_steps_per_s, row.ppo_update_share = ppo_steps_per_s(name, ppo_seconds, seed)
            if name in CONFIG_FOR:
                row.ppo_config = CONFIG_FOR[name]
                row.config_ppo_steps_per_s, row.config_ppo_update_share = ppo_steps_per_s(
                    name, ppo_seconds, seed, settings="racingline")
        rows.append(row)
        if on_row is not None:
            on_row(row)
    base = next((r for r in rows if r.name == "stock"), None)
    if base is not None:
        for r in rows:
            r.env_ratio = r.env_steps_per_s / base.env_steps_per_s
            if r.ppo_steps_per_s is not None and base.ppo_steps_per_s:
                r.ppo_ratio = r.ppo_steps_per_s / base.ppo_steps_per_s
            if r.config_ppo_steps_per_s is not None and base.ppo_steps_per_s:
                r.config_ppo_ratio = r.config_ppo_steps_per_s / base.ppo_steps_per_s
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return BenchReport(rows=rows, seed=seed, env_seconds=env_seconds, ppo_seconds=ppo_seconds, max_rss_mib=rss,
                       settings={"frame_skip": 2, "size": 64, "ppo_n_envs": 2, "episode_steps": EPISODE_STEPS,
                                 "track": "CarRacing procedural, same seed", "configs": dict(CONFIG_FOR)})
