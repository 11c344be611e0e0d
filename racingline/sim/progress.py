"""ProgressTracker: the car's signed advance along a track's dense centerline, and lap completion.

Each physics frame the car is projected on the nearest dense centerline point; a move of at most
``max_jump`` sim units along the centerline counts as progress (forwards or backwards), a larger jump
(cutting across the infield to another part of the loop) does not. Progress is the best advance so far,
so driving backwards and forwards again is not counted twice.
"""

from __future__ import annotations

from racingline.sim.geometry import SimTrack

__all__ = ["ProgressTracker"]


class ProgressTracker:
    """Tracks the car's advance on ``sim``'s centerline from dense index ``start``.

    Args:
        sim: the track in the simulator.
        start: dense centerline index of the start.
        max_jump: largest centerline move per frame that counts as driving (sim units).

    Attributes:
        proj: dense index nearest the car at the last update.
        u: signed centerline advance since the start (sim units); best_u: its maximum.
        lap_complete: the best advance has covered the whole centerline.
    """

    __slots__ = ("sim", "n", "idx", "proj", "u", "best_u", "lap_complete", "max_jump", "_x", "_y", "_ds", "_end")

    def __init__(self, sim: SimTrack, start: int, max_jump: float) -> None:
        self.sim = sim
        self.n = len(sim.dense_xy)
        self.idx = int(start)
        self.proj = int(start)
        self.u = 0.0
        self.best_u = 0.0
        self.lap_complete = False
        self.max_jump = float(max_jump)
        self._x = sim.dense_x
        self._y = sim.dense_y
        self._ds = sim.ds
        self._end = sim.length - 0.5 * sim.ds

    def update(self, px: float, py: float) -> float:
        """Project the car at ``(px, py)`` (sim units); return the centerline advance this counted."""
        dx = self._x - px
        dy = self._y - py
        dx *= dx
        dy *= dy
        dx += dy
        idx = int(dx.argmin())
        n = self.n
        delta_i = (idx - self.idx + n // 2) % n - n // 2
        delta = delta_i * self._ds
        u_before = self.u
        if abs(delta) <= self.max_jump:
            self.u += delta
            self.idx = idx
            if self.u > self.best_u:
                self.best_u = self.u
                if self.best_u >= self._end:
                    self.lap_complete = True
        self.proj = idx
        return self.u - u_before

    @property
    def progress(self) -> float:
        """Percent (0-100) of the centerline covered in the driving direction since the start."""
        return float(min(100.0, 100.0 * self.best_u / self.sim.length))
