"""Demonstrations: the steps of recorded episodes, with their observations stacked as training stacks them.

Each step's observation is rebuilt the way ``VecFrameStack`` builds it for the agent: the episode's frames
on the last axis, newest last, with zero frames before the episode's start (a reset clears the stack).
Frames are stored once; stacks are assembled on demand (:meth:`Demonstrations.observations`), so pixel
datasets cost one copy of their frames.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from racingline.record.dataset import DatasetError, RecordedDataset, open_dataset

__all__ = ["Demonstrations"]


@dataclass
class Demonstrations:
    """Steps of whole episodes with their frame-stacking indices.

    Attributes:
        frames: ``(F, *obs_shape)`` every episode's raw observations (its ``T + 1``, reset included), in order.
        stack_index: ``(N, n_stack)`` for each step, the frames stacked into its observation (oldest first,
            ``-1``: a zero frame, as ``VecFrameStack`` pads an episode's start).
        actions: ``(N, *action_shape)`` the action taken (or, for DAgger, the expert's) at each step.
        rewards: ``(N,)`` the reward that followed.
        episode: ``(N,)`` the step's episode number (0-based, in this object); ``t``: ``(N,)`` its step in it.
        final_index: ``(E, n_stack)`` the stacked frames of each episode's last observation.
        truncated: ``(E,)`` the episode ended by truncation (its return is bootstrapped), not termination.
        source: ``(E,)`` where each episode came from (``"dataset"`` or ``"dagger"``).
    """

    frames: np.ndarray
    stack_index: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    episode: np.ndarray
    t: np.ndarray
    final_index: np.ndarray
    truncated: np.ndarray
    source: list[str] = field(default_factory=list)

    @classmethod
    def from_episodes(cls, episodes: Iterable[Any], frame_stack: int = 1, source: str = "dataset") -> Demonstrations:
        """Demonstrations of ``episodes`` (objects with ``observations`` ``(T+1, ...)``, ``actions``, ``rewards``,
        ``terminations`` and ``truncations``, like :class:`~racingline.record.dataset.RecordedEpisode`)."""
        n_stack = max(int(frame_stack), 1)
        frames, stacks, finals, actions, rewards, episode, steps, truncated = [], [], [], [], [], [], [], []
        offset = 0
        for e, ep in enumerate(episodes):
            obs = np.asarray(ep.observations)
            act = np.asarray(ep.actions)
            n = len(act)
            if n == 0:
                continue
            if len(obs) != n + 1:
                raise DatasetError(f"episode {getattr(ep, 'id', e)}: {len(obs)} observations for {n} actions "
                                   "(expected one more)")
            # Frame j of the episode (0..T) is global frame offset + j; its stack is frames j-n+1..j.
            j = np.arange(n + 1)[:, None] + np.arange(-n_stack + 1, 1)[None, :]
            index = np.where(j >= 0, j + offset, -1)
            frames.append(obs)
            stacks.append(index[:n])
            finals.append(index[n])
            actions.append(act)
            rewards.append(np.asarray(ep.rewards, dtype=np.float64).reshape(n))
            episode.append(np.full(n, len(finals) - 1))
            steps.append(np.arange(n))
            terms = np.asarray(ep.terminations, dtype=bool).reshape(n)
            truncated.append(not bool(terms[-1]))
            offset += n + 1
        if not frames:
            raise DatasetError("no episode with at least one step to learn from")
        return cls(frames=np.concatenate(frames), stack_index=np.concatenate(stacks), actions=np.concatenate(actions),
                   rewards=np.concatenate(rewards), episode=np.concatenate(episode), t=np.concatenate(steps),
                   final_index=np.stack(finals), truncated=np.asarray(truncated, dtype=bool),
                   source=[source] * len(finals))

    @classmethod
    def from_dataset(cls, dataset: RecordedDataset | str | os.PathLike, frame_stack: int = 1) -> Demonstrations:
        """Every episode of ``dataset`` (a path or an open :class:`RecordedDataset`)."""
        ds = dataset if isinstance(dataset, RecordedDataset) else open_dataset(dataset)
        return cls.from_episodes(ds.episodes(), frame_stack)

    @property
    def n_steps(self) -> int:
        return len(self.actions)

    @property
    def n_episodes(self) -> int:
        return len(self.final_index)

    @property
    def n_stack(self) -> int:
        return int(self.stack_index.shape[1])

    def stacked(self, index: np.ndarray) -> np.ndarray:
        """Observations stacked as ``VecFrameStack`` does (on the last axis) for rows of ``index`` ``(B, n_stack)``."""
        index = np.asarray(index)
        parts = []
        for k in range(index.shape[1]):
            col = index[:, k]
            part = self.frames[np.maximum(col, 0)]
            if (col < 0).any():
                part = part.copy()
                part[col < 0] = 0
            parts.append(part)
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)

    def observations(self, steps: np.ndarray) -> np.ndarray:
        """The stacked observations of ``steps`` (indices into the steps)."""
        return self.stacked(self.stack_index[np.asarray(steps)])

    def concat(self, other: Demonstrations) -> Demonstrations:
        """These episodes followed by ``other``'s (same observation shape and stacking)."""
        if other.n_stack != self.n_stack or other.frames.shape[1:] != self.frames.shape[1:]:
            raise ValueError("demonstrations with different observations cannot be joined")
        shift = len(self.frames)

        def moved(index: np.ndarray) -> np.ndarray:
            return np.where(index >= 0, index + shift, -1)

        return Demonstrations(
            frames=np.concatenate([self.frames, other.frames]),
            stack_index=np.concatenate([self.stack_index, moved(other.stack_index)]),
            actions=np.concatenate([self.actions, other.actions.astype(self.actions.dtype, copy=False)]),
            rewards=np.concatenate([self.rewards, other.rewards]),
            episode=np.concatenate([self.episode, other.episode + self.n_episodes]),
            t=np.concatenate([self.t, other.t]), final_index=np.concatenate([self.final_index, moved(other.final_index)]),
            truncated=np.concatenate([self.truncated, other.truncated]), source=self.source + other.source)
