"""Behaviour cloning: a PPO policy pretrained on a driving dataset through training's own observation pipeline.

``racingline train --pretrain DATASET`` (:func:`pretrain_run`) clones the dataset's driver into the fresh
PPO model before fine-tuning it with PPO as usual:

- Observations go through the pipeline training uses: each episode's frames are stacked the way
  ``VecFrameStack`` stacks them (:class:`~racingline.record.demos.Demonstrations`), and ``VecNormalize``'s
  observation statistics, when the config normalises observations, are first set from the dataset's
  stacked observations and then applied (the same statistics PPO starts from and keeps updating).
- Actor: continuous (``Box``) actions: the policy's mean action regresses on the dataset's actions (mean
  squared error); afterwards its state-independent ``log_std`` is set to the log of the training residual
  per action (at least ``min_std``, 0.02), which with the regressed mean is the Gaussian's maximum-likelihood
  fit. (A floor of 0.1, five times the controller's steering residual, made PPO fine-tuning trade the cloned
  speed for safety: median lap 1.13x the best line after 100k steps, against 1.01x with the residual; see
  ``benchmarks/pretrain.py``.) ``Discrete`` actions: cross-entropy on the logits.
- Critic: the value net regresses on discounted returns-to-go (``gamma`` of the config) of the dataset's
  rewards *as the reward normaliser will see them*: with ``norm_reward`` the ``VecNormalize`` return
  statistics are first set from the dataset's running discounted returns (what ``VecNormalize`` tracks),
  then every reward is scaled and clipped by ``VecNormalize.normalize_reward``, so PPO's first value
  targets are on the scale the critic was trained at. Episodes that end in a truncation (time limit) are
  bootstrapped with the critic's own value of their last observation, as SB3's PPO bootstraps timeouts.
  When the dataset's recorded reward settings differ from the config's, the critic is left untrained.

The episodes are split by episode into training and held-out ones (every tenth held out); the held-out
action error (RMSE of the deterministic action) and value error are reported before and after. With
``dagger_rounds``, DAgger (:mod:`racingline.record.dagger`) follows the cloning, before ``log_std`` is set.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from racingline.record.dataset import DatasetError, RecordedDataset, open_dataset
from racingline.record.demos import Demonstrations

__all__ = ["Demonstrations", "BCResult", "BehaviourCloning", "check_pretrain_dataset", "pretrain_run",
           "PRETRAIN_FILE", "DEFAULT_PRETRAIN_EPOCHS", "REWARD_KEYS"]

#: What a pretrained run folder records about its pretraining.
PRETRAIN_FILE = "pretrain.json"
#: Passes over the dataset by default (``--pretrain-epochs``).
DEFAULT_PRETRAIN_EPOCHS = 20
#: Env settings that change the rewards recorded; when a dataset's differ, its returns are not this config's.
REWARD_KEYS: tuple[str, ...] = ("reward", "off_track_penalty", "terminate_on_off_track", "frame_skip")
_CHUNK = 4096



# ---------------------------------------------------------------------------------------------- result
@dataclass
class BCResult:
    """What behaviour cloning did and reached (``pretrain.json`` holds it with the dataset's identity).

    Action errors are RMSEs of the deterministic action (clipped to the action space) against the
    dataset's, over every action dimension (``Discrete``: the share of steps whose most likely action
    differs); value errors are RMSEs of the value net against the (normalised) returns-to-go.
    """

    epochs: int
    train_steps: int
    heldout_steps: int
    final_bc_loss: float | None = None
    final_value_loss: float | None = None
    heldout_action_error_before: float | None = None
    heldout_action_error: float | None = None
    heldout_action_error_per_dim: list[float] | None = None
    heldout_value_error_before: float | None = None
    heldout_value_error: float | None = None
    action_std: list[float] | None = None
    #: Weights of each action dimension's squared error (``demos.balance_actions``); ``None``: all 1.
    action_weights: list[float] | None = None
    critic: str = "trained"
    bc_loss_per_epoch: list[float] = field(default_factory=list)
    seconds: float = 0.0
    clone_seconds: float = 0.0
    dagger: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------- cloning
def _normaliser(venv: Any) -> Any:
    """The ``VecNormalize`` of a vec env stack (``None`` when it has none)."""
    from stable_baselines3.common.vec_env import VecEnvWrapper, VecNormalize

    while venv is not None:
        if isinstance(venv, VecNormalize):
            return venv
        venv = venv.venv if isinstance(venv, VecEnvWrapper) else None
    return None


class BehaviourCloning:
    """Behaviour cloning of an SB3 actor-critic ``model`` on :class:`Demonstrations` (see the module docstring).

    Args:
        model: the PPO model (its ``policy`` is trained in place).
        venv: the training vec env (its ``VecNormalize`` statistics are set from the data and applied).
        demos: the demonstrations.
        gamma: discount of the returns the critic regresses on (the config's ``ppo.gamma``).
        critic: also regress the value net (``False``: the actor only).
        holdout: share of episodes held out (every ``round(1/holdout)``-th; at least one when there are two).
        batch_size, learning_rate: minibatch size and Adam step size of the regression.
        min_std: smallest action standard deviation set after cloning (continuous actions).
        seed: shuffling of the minibatches.
        set_stats: set the ``VecNormalize`` statistics from ``demos`` (once, for a fresh run's normaliser).
        balance: continuous actions: divide each action dimension's error by that dimension's spread in
            ``demos`` (its standard deviation), so a narrow one (the line controller's steering, within
            +-0.4) weighs as much as a wide one (gas, 0-1). Off: the plain mean squared error.
    """

    def __init__(self, model: Any, venv: Any, demos: Demonstrations, *, gamma: float, critic: bool = True,
                 holdout: float = 0.1, batch_size: int = 256, learning_rate: float = 1e-3, min_std: float = 0.02,
                 seed: int = 0, set_stats: bool = True, balance: bool = False) -> None:
        import torch

        self.model = model
        self.policy = model.policy
        self.space = model.action_space
        if not isinstance(self.space, (gym.spaces.Box, gym.spaces.Discrete)):
            raise DatasetError(f"behaviour cloning supports Box and Discrete actions, not {self.space}")
        self.norm = _normaliser(venv)
        self.gamma = float(gamma)
        self.critic = bool(critic)
        self.batch_size = int(batch_size)
        self.min_std = float(min_std)
        self.rng = np.random.default_rng(seed)
        self.demos = demos
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=float(learning_rate))
        #: The critic's mean squared error over the last epoch (``None`` before one, or without the critic).
        self.last_value_loss: float | None = None
        self._split(holdout)
        #: Per-dimension weights of the actor's squared error (``None``: all 1).
        self.action_weights: np.ndarray | None = None
        if balance and isinstance(self.space, gym.spaces.Box):
            spread = np.std(demos.actions[self.train_idx].reshape(len(self.train_idx), -1), axis=0)
            self.action_weights = 1.0 / np.maximum(spread, 1e-2) ** 2
            self.action_weights /= self.action_weights.mean()
        if set_stats:
            self._set_statistics()
        self._returns()

    # ------------------------------------------------------------------ data
    def _split(self, holdout: float) -> None:
        d = self.demos
        n_ep = d.n_episodes
        held = np.zeros(n_ep, dtype=bool)
        if holdout > 0 and n_ep >= 2:
            k = max(2, int(round(1.0 / holdout)))
            held[k - 1::k] = True
            if not held.any():
                held[-1] = True
        steps = np.arange(d.n_steps)
        if holdout > 0 and n_ep == 1:  # one episode: its last steps are held out
            cut = int(d.n_steps * (1.0 - holdout))
            self.train_idx, self.held_idx = steps[:cut], steps[cut:]
        else:
            self.train_idx, self.held_idx = steps[~held[d.episode]], steps[held[d.episode]]
        self.held_episodes = held

    def add(self, more: Demonstrations) -> None:
        """Aggregate ``more`` (e.g. DAgger's expert-labelled episodes) into the training steps."""
        first = self.demos.n_steps
        self.demos = self.demos.concat(more)
        self.train_idx = np.concatenate([self.train_idx, first + np.arange(more.n_steps)])
        self._returns()

    def _set_statistics(self) -> None:
        """``VecNormalize``'s observation statistics from the stacked observations and its return statistics
        from the running discounted returns, each as ``VecNormalize`` would have gathered them."""
        norm = self.norm
        if norm is None:
            return
        d = self.demos
        if norm.norm_obs:
            for start in range(0, d.n_steps, _CHUNK):
                norm.obs_rms.update(d.observations(np.arange(start, min(start + _CHUNK, d.n_steps))))
        if norm.norm_reward:
            running = np.empty(d.n_steps)
            ret = 0.0
            for i in range(d.n_steps):
                ret = d.rewards[i] if d.t[i] == 0 else ret * self.gamma + d.rewards[i]
                running[i] = ret
            norm.ret_rms.update(running)

    def _returns(self) -> None:
        """Per step: the discounted (normalised) return to the episode's end and the discount to it."""
        d = self.demos
        r = d.rewards
        if self.norm is not None and self.norm.norm_reward:
            r = np.asarray(self.norm.normalize_reward(r), dtype=np.float64)
        partial = np.empty(d.n_steps)
        to_end = np.empty(d.n_steps)
        acc, disc = 0.0, 1.0
        for i in range(d.n_steps - 1, -1, -1):
            last = i == d.n_steps - 1 or d.episode[i + 1] != d.episode[i]
            if last:
                acc, disc = 0.0, 1.0
            acc = r[i] + self.gamma * acc
            disc *= self.gamma
            partial[i] = acc
            to_end[i] = disc if d.truncated[d.episode[i]] else 0.0
        self.partial_return = partial
        self.discount_to_end = to_end

    def _tensor(self, steps: np.ndarray | None = None, *, index: np.ndarray | None = None):
        obs = self.demos.observations(steps) if index is None else self.demos.stacked(index)
        if self.norm is not None:
            obs = self.norm.normalize_obs(obs)
        return self.policy.obs_to_tensor(obs)[0]

    def _targets(self, steps: np.ndarray):
        """Value targets of ``steps``: returns to the episode's end, truncated episodes bootstrapped."""
        import torch

        d = self.demos
        target = self.partial_return[steps].copy()
        boot = self.discount_to_end[steps] > 0
        if boot.any():
            episodes = np.unique(d.episode[steps][boot])
            with torch.no_grad():
                values = self.policy.predict_values(self._tensor(index=d.final_index[episodes])).cpu().numpy()[:, 0]
            lookup = dict(zip(episodes.tolist(), values.tolist(), strict=True))
            target[boot] += self.discount_to_end[steps][boot] * np.array([lookup[e] for e in d.episode[steps][boot]])
        return torch.as_tensor(target, dtype=torch.float32, device=self.policy.device)

    def act(self, stacked_obs: np.ndarray) -> np.ndarray:
        """Deterministic actions for a batch of stacked raw observations (normalised here), in the action space."""
        import torch

        obs = stacked_obs if self.norm is None else self.norm.normalize_obs(stacked_obs)
        with torch.no_grad():
            out = self._actor_out(self.policy.obs_to_tensor(obs)[0]).cpu().numpy()
        if isinstance(self.space, gym.spaces.Box):
            return np.clip(out, self.space.low, self.space.high).astype(self.space.dtype)
        return out.argmax(axis=-1)

    # ------------------------------------------------------------------ losses
    def _actor_out(self, obs):
        dist = self.policy.get_distribution(obs).distribution
        return dist.mean if isinstance(self.space, gym.spaces.Box) else dist.logits

    def _actor_loss(self, out, steps: np.ndarray):
        import torch

        actions = self.demos.actions[steps]
        if isinstance(self.space, gym.spaces.Box):
            target = torch.as_tensor(actions.reshape(out.shape), dtype=torch.float32, device=out.device)
            if self.action_weights is None:
                return torch.nn.functional.mse_loss(out, target)
            weights = torch.as_tensor(self.action_weights, dtype=torch.float32, device=out.device)
            return ((out - target) ** 2 * weights).mean()
        target = torch.as_tensor(actions.reshape(-1).astype(np.int64), device=out.device)
        return torch.nn.functional.cross_entropy(out, target)

    def _batches(self, steps: np.ndarray, shuffle: bool) -> Iterable[np.ndarray]:
        order = self.rng.permutation(steps) if shuffle else steps
        for start in range(0, len(order), self.batch_size if shuffle else _CHUNK):
            yield order[start:start + (self.batch_size if shuffle else _CHUNK)]

    # ------------------------------------------------------------------ training
    def fit(self, epochs: int, stop: threading.Event | None = None) -> list[float]:
        """Train ``epochs`` passes over the training steps; the mean actor loss of each epoch.

        Stops early (after the current minibatch) when ``stop`` is set.
        """
        import torch

        losses: list[float] = []
        critic_share = 1.0 if not self.policy.share_features_extractor else float(getattr(self.model, "vf_coef", 0.5))
        self.policy.set_training_mode(True)
        for _ in range(int(epochs)):
            total, value_total, count = 0.0, 0.0, 0
            for steps in self._batches(self.train_idx, shuffle=True):
                if stop is not None and stop.is_set():
                    self.policy.set_training_mode(False)
                    return losses
                obs = self._tensor(steps)
                loss = actor = self._actor_loss(self._actor_out(obs), steps)
                if self.critic:
                    target = self._targets(steps)
                    value = torch.nn.functional.mse_loss(self.policy.predict_values(obs)[:, 0], target)
                    loss = actor + critic_share * value
                    value_total += float(value.detach()) * len(steps)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                total += float(actor.detach()) * len(steps)
                count += len(steps)
            losses.append(total / max(count, 1))
            self.last_value_loss = value_total / max(count, 1) if self.critic else None
        self.policy.set_training_mode(False)
        return losses

    def set_action_std(self, scale: float = 1.0) -> list[float] | None:
        """Set a Gaussian policy's ``log_std`` to the log of the training residual per action times ``scale``
        (at least ``min_std``)."""
        import torch

        log_std = getattr(self.policy, "log_std", None)
        if not isinstance(self.space, gym.spaces.Box) or not isinstance(log_std, torch.Tensor) \
                or log_std.shape != self.space.shape:
            return None
        sq = np.zeros(self.space.shape)
        n = 0
        with torch.no_grad():
            for steps in self._batches(self.train_idx, shuffle=False):
                mean = self._actor_out(self._tensor(steps)).cpu().numpy()
                sq += ((mean - self.demos.actions[steps].reshape(mean.shape)) ** 2).sum(axis=0)
                n += len(steps)
        std = np.maximum(float(scale) * np.sqrt(sq / max(n, 1)), self.min_std)
        with torch.no_grad():
            log_std.copy_(torch.as_tensor(np.log(std), dtype=log_std.dtype))  # in place: views stay valid
        return [float(s) for s in std]

    def heldout_errors(self) -> tuple[float | None, list[float] | None, float | None]:
        """(action error, its RMSE per action dimension, value error) on the held-out steps."""
        import torch

        steps = self.held_idx
        if len(steps) == 0:
            return None, None, None
        sq = None
        wrong = 0
        value_sq = 0.0
        with torch.no_grad():
            for batch in self._batches(steps, shuffle=False):
                obs = self._tensor(batch)
                out = self._actor_out(obs).cpu().numpy()
                actions = self.demos.actions[batch]
                if isinstance(self.space, gym.spaces.Box):
                    pred = np.clip(out, self.space.low, self.space.high)
                    err = ((pred - actions.reshape(pred.shape)) ** 2).sum(axis=0)
                    sq = err if sq is None else sq + err
                else:
                    wrong += int((out.argmax(axis=-1) != actions.reshape(-1)).sum())
                if self.critic:
                    values = self.policy.predict_values(obs).cpu().numpy()[:, 0]
                    value_sq += float(((values - self._targets(batch).cpu().numpy()) ** 2).sum())
        n = len(steps)
        value_error = math.sqrt(value_sq / n) if self.critic else None
        if sq is None:
            return wrong / n, None, value_error
        per_dim = np.sqrt(sq / n)
        return float(np.sqrt(sq.sum() / (n * sq.size))), [float(x) for x in per_dim], value_error


# ---------------------------------------------------------------------------------------------- training runs
def _space_of_env(kwargs: dict[str, Any]) -> tuple[gym.Space, gym.Space]:
    from racingline.sim.wrappers import make_env

    env = make_env(**kwargs)
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


def check_pretrain_dataset(path: str | os.PathLike, cfg: Any, env_kwargs: dict[str, Any]) -> RecordedDataset:
    """Open the dataset of ``--pretrain`` and check it fits ``cfg``'s environment (one env, before frame
    stacking: what a recording holds); :class:`DatasetError` naming the dataset and both spaces otherwise."""
    ds = open_dataset(path)
    obs_space, act_space = _space_of_env(env_kwargs)
    env = cfg.env
    actions = f"env.action_space={env.action_space}" if env.action_space else \
        f"env.continuous={str(env.continuous).lower()}"
    try:
        ds.check_spaces(obs_space, act_space, what="the config's environment")
    except DatasetError as exc:
        raise DatasetError(f"{exc}; the config has env.obs={env.obs}, {actions} (record the dataset with the "
                           "config you train with)") from None
    return ds


def reward_mismatch(ds: RecordedDataset, cfg: Any) -> list[str]:
    """The :data:`REWARD_KEYS` whose recorded value (the dataset's ``config`` metadata) differs from ``cfg``'s."""
    recorded = ds.meta.get("config") or {}
    if not isinstance(recorded, dict):
        return []
    return [f"{k}: dataset {recorded[k]!r}, config {getattr(cfg.env, k)!r}" for k in REWARD_KEYS
            if k in recorded and recorded[k] != getattr(cfg.env, k)]


def pretrain_run(run_dir: str | os.PathLike, model: Any, venv: Any, dataset: RecordedDataset, cfg: Any, *,
                 epochs: int = DEFAULT_PRETRAIN_EPOCHS, stop: threading.Event | None = None,
                 dagger_rounds: int = 0, env_kwargs: dict[str, Any] | None = None,
                 dagger_episodes: int = 16, std_scale: float = 1.0, dagger_expert: str | None = None) -> BCResult:
    """Pretrain a fresh run's ``model`` on ``dataset`` (see the module docstring); write ``pretrain.json``.

    ``dagger_rounds``: rounds of DAgger after cloning (:func:`racingline.record.dagger.dagger`), each
    driving ``dagger_episodes`` episodes of the config's env (``env_kwargs``) with the policy and adding
    them, labelled by the line controller (driving ``dagger_expert``'s line; default
    :data:`racingline.record.dagger.EXPERT`), to the training steps. ``std_scale`` scales the Gaussian's
    cloned spread (:meth:`BehaviourCloning.set_action_std`). Nothing is written when ``stop`` is set
    before the end (the caller removes the run).
    """
    from racingline.io import atomic_write_text

    t0 = time.perf_counter()
    if int(epochs) < 1:
        raise DatasetError(f"--pretrain-epochs {epochs}: must be at least 1")
    demos = Demonstrations.from_dataset(dataset, cfg.env.frame_stack)
    mismatch = reward_mismatch(dataset, cfg)
    bc = BehaviourCloning(model, venv, demos, gamma=cfg.ppo.gamma, critic=not mismatch, seed=cfg.seed,
                          balance=cfg.demos.balance_actions)
    before, _, value_before = bc.heldout_errors()
    fit_t0 = time.perf_counter()
    losses = bc.fit(epochs, stop)
    fit_s = time.perf_counter() - fit_t0
    dagger_log: list[dict[str, Any]] = []
    if dagger_rounds and not (stop is not None and stop.is_set()):
        from racingline.record.dagger import EXPERT, dagger

        dagger_log = dagger(bc, env_kwargs if env_kwargs is not None else {}, rounds=dagger_rounds,
                            episodes=dagger_episodes, epochs=max(1, int(epochs) // 2), seed=cfg.seed, stop=stop,
                            expert=dagger_expert or EXPERT)
    std = bc.set_action_std(std_scale)
    after, per_dim, value_after = bc.heldout_errors()
    result = BCResult(
        epochs=len(losses), train_steps=len(bc.train_idx), heldout_steps=len(bc.held_idx),
        final_bc_loss=losses[-1] if losses else None, final_value_loss=bc.last_value_loss,
        heldout_action_error_before=before, heldout_action_error=after, heldout_action_error_per_dim=per_dim,
        heldout_value_error_before=value_before, heldout_value_error=value_after, action_std=std,
        action_weights=None if bc.action_weights is None else [round(float(w), 6) for w in bc.action_weights],
        critic="trained" if not mismatch else f"not trained: the dataset's rewards differ ({'; '.join(mismatch)})",
        bc_loss_per_epoch=losses, seconds=round(time.perf_counter() - t0, 3), clone_seconds=round(fit_s, 3),
        dagger=dagger_log,
        stopped=bool(stop is not None and stop.is_set()))
    if result.stopped:
        return result
    record = {
        "dataset": str(Path(dataset.path).absolute()), "dataset_id": dataset.metadata_raw.get("dataset_id"),
        "episodes": dataset.total_episodes, "steps": dataset.total_steps,
        "driver": dataset.meta.get("driver"), "frame_stack": cfg.env.frame_stack,
        "norm_obs": bool(cfg.norm_obs), "norm_reward": bool(cfg.norm_reward), "gamma": cfg.ppo.gamma,
        "dagger_rounds": int(dagger_rounds), "std_scale": float(std_scale), **result.to_dict(),
    }
    atomic_write_text(Path(run_dir) / PRETRAIN_FILE, json.dumps(record, indent=2, default=_plain) + "\n")
    return result


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
