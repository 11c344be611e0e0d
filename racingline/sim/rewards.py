"""Rewards: one small protocol, ``reward(state, prev) -> float``, and the built-in rewards.

A reward reads the :class:`~racingline.sim.state.CarState` after an agent step (and the one before it);
it never reads the simulator. Built-ins sum their per-frame terms in frame order, so a step's reward is
the same number whatever the frame skip splits it into. The choice list is :data:`racingline.choices.REWARDS`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from racingline.choices import REWARDS
from racingline.sim.state import CarState

__all__ = ["Reward", "ProgressReward", "TilesReward", "make_reward", "OUT_OF_PLAYFIELD_REWARD"]

#: Reward of the frame in which the car leaves the simulated area (CarRacing's).
OUT_OF_PLAYFIELD_REWARD = -100.0


@runtime_checkable
class Reward(Protocol):
    """Turns a step's :class:`CarState` (and the previous one) into a reward."""

    def __call__(self, state: CarState, prev: CarState) -> float: ...


class ProgressReward:
    """+1000 per lap of signed centerline progress, -0.1 per frame, ``off_track_penalty`` when leaving ends it."""

    #: CarRacing's running tile score is left alone (it is not this reward).
    keeps_tile_score = False

    def __init__(self, off_track_penalty: float = -100.0, time_penalty: float = 0.1) -> None:
        self.off_track_penalty = float(off_track_penalty)
        self.time_penalty = float(time_penalty)

    def __call__(self, state: CarState, prev: CarState) -> float:
        length = state.track_length
        last = len(state.frame_advance) - 1
        total = 0.0
        for i, du in enumerate(state.frame_advance):
            r = 1000.0 * du / length - self.time_penalty
            if i == last:
                r = _episode_end(state, r, self.off_track_penalty)
            total += r
        return total


class TilesReward:
    """CarRacing's reward: +1000/N per new road tile, -0.1 per frame (its running score's change)."""

    #: The env keeps CarRacing's running score (-0.1 per frame) for this reward.
    keeps_tile_score = True

    def __init__(self, off_track_penalty: float = -100.0) -> None:
        self.off_track_penalty = float(off_track_penalty)

    def __call__(self, state: CarState, prev: CarState) -> float:
        before = state.score_before
        last = len(state.frame_score) - 1
        total = 0.0
        for i, score in enumerate(state.frame_score):
            r = score - before
            before = score
            if i == last:
                r = _episode_end(state, r, self.off_track_penalty)
            total += r
        return total


def _episode_end(state: CarState, r: float, off_track_penalty: float) -> float:
    """The last frame's reward when the step ends the episode by leaving the area or the road."""
    if state.out_of_playfield:
        return OUT_OF_PLAYFIELD_REWARD
    if state.off_track_end:
        return r + off_track_penalty
    return r


def make_reward(name: str, *, off_track_penalty: float = -100.0) -> Reward:
    """The built-in reward ``name`` (one of :data:`racingline.choices.REWARDS`), or a DeepRacer reward file
    (a path ending in ``.py``: :class:`racingline.deepracer.reward_file.FileReward`; no penalty is added)."""
    if str(name).strip().lower().endswith(".py"):
        from racingline.deepracer.reward_file import FileReward

        return FileReward(name)
    if name == "progress":
        return ProgressReward(off_track_penalty)
    if name == "tiles":
        return TilesReward(off_track_penalty)
    raise ValueError(f"reward: unknown reward {name!r}; choose one of {', '.join(REWARDS)}")
