"""RecordEpisodes: a Gymnasium wrapper that records the episodes of one env into a dataset as they happen.

It sits directly around a :func:`racingline.make_env` env (inside ``Monitor`` and the vector-env stack), so
it records the env's own observation (one frame, before frame stacking and ``VecNormalize``), the action in
the agent's action space, the reward, terminated/truncated and the car state. The dataset is opened
lazily, in the process the env runs in (training workers included). Each episode is written when it ends;
an episode cut short by a reset or a close is dropped, unless :meth:`RecordEpisodes.finish` ends it first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gymnasium as gym

from racingline.record.dataset import DatasetWriter

__all__ = ["RecordEpisodes", "RecordSpec"]


class RecordSpec:
    """Where and how an env records: the dataset path, every how many episodes, and dataset-wide facts.

    Picklable, so it can travel to a worker process; the writer is made there.
    """

    def __init__(self, path: str | os.PathLike, *, every: int = 1, meta: dict[str, Any] | None = None,
                 append: bool = False, episode_meta: dict[str, Any] | None = None, shared: bool = False) -> None:
        if int(every) < 1:
            raise ValueError(f"every: must be >= 1, got {every}")
        self.path = Path(path)
        self.every = int(every)
        self.meta = dict(meta or {})
        self.append = bool(append)
        self.episode_meta = dict(episode_meta or {})
        #: Shared: every wrapper given this spec (in this process) writes through one writer, which the
        #: owner closes with :meth:`close`; otherwise each wrapper opens and closes its own.
        self.shared = bool(shared)
        self.writer: DatasetWriter | None = None

    def open(self, observation_space: gym.Space, action_space: gym.Space) -> DatasetWriter:
        """The writer of a shared spec, made on first use (checks the path: an existing dataset is an
        error unless ``append``)."""
        if self.writer is None:
            self.writer = DatasetWriter(self.path, observation_space, action_space, meta=self.meta, append=self.append)
        return self.writer

    def close(self) -> None:
        """Close a shared writer (drops an unfinished episode, removes its scratch folder)."""
        if self.writer is not None:
            self.writer.close()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "writer": None}  # a writer belongs to the process that made it

    def __repr__(self) -> str:
        return f"RecordSpec({str(self.path)!r}, every={self.every})"


class RecordEpisodes(gym.Wrapper):
    """Record every ``spec.every``-th episode of ``env`` into ``spec.path`` (see the module docstring).

    Attributes:
        writer: the :class:`DatasetWriter` (``None`` until the first recorded episode starts).
        episodes_seen: episodes started; episodes_recorded: whole episodes written by this wrapper.
        episode_meta: merged into each episode's metadata (e.g. the driver); may be changed between episodes.
    """

    def __init__(self, env: gym.Env, spec: RecordSpec) -> None:
        super().__init__(env)
        self.record_spec = spec
        self.writer: DatasetWriter | None = None
        self.episodes_seen = 0
        self.episodes_recorded = 0
        self.episode_meta: dict[str, Any] = dict(spec.episode_meta)
        self._recording = False
        self._seed: int | None = None

    def open(self) -> DatasetWriter:
        """The dataset writer, made now if it is not yet (so a bad path fails before any driving)."""
        if self.writer is None:
            if self.record_spec.shared:
                self.writer = self.record_spec.open(self.env.observation_space, self.env.action_space)
            else:
                self.writer = DatasetWriter(self.record_spec.path, self.env.observation_space, self.env.action_space,
                                            meta=self.record_spec.meta, append=self.record_spec.append)
        return self.writer

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if self._recording and self.writer is not None:
            self.writer.discard()  # cut short by a reset: not a whole episode
        obs, info = self.env.reset(seed=seed, options=options)
        self._recording = self.episodes_seen % self.record_spec.every == 0
        self.episodes_seen += 1
        if self._recording:
            meta = dict(self.episode_meta)
            if seed is not None:
                meta["seed"] = int(seed)
            self.open().begin(obs, self.env.unwrapped.state, **meta)
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self._recording and self.writer is not None:
            self.writer.step(action, obs, reward, terminated, truncated, self.env.unwrapped.state)
            if terminated or truncated:
                self._recording = False
                if self.writer.end() is not None:
                    self.episodes_recorded += 1
        return obs, reward, terminated, truncated, info

    def finish(self, **outcome: Any) -> int | None:
        """End the episode in progress now and write it (marked truncated); its id, or ``None``."""
        if not (self._recording and self.writer is not None):
            return None
        self._recording = False
        episode_id = self.writer.end(**outcome)
        if episode_id is not None:
            self.episodes_recorded += 1
        return episode_id

    def discard(self) -> None:
        """Drop the episode in progress."""
        if self.writer is not None:
            self.writer.discard()
        self._recording = False

    def close(self) -> None:
        if self._recording and self.writer is not None:
            self.writer.discard()  # an unfinished episode is dropped
        self._recording = False
        if self.writer is not None and not self.record_spec.shared:
            self.writer.close()  # and the scratch folder removed
        super().close()
