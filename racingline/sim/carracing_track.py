"""CarRacing's procedural track, traced without building it in Box2D.

:meth:`CarRacing._create_track` draws 12 random checkpoints, traces a centerline through them, and then
builds every road tile as a Box2D body and works out the kerbs with per-tile NumPy calls. DeepRacerEnv only
keeps the centerline (it builds its own road from it), so :func:`carracing_centerline` does just the
drawing and tracing: the same random draws in the same order and the same float arithmetic, so for the
same generator state it returns exactly the points CarRacing's ``env.track`` would hold, or ``None`` where
CarRacing's attempt fails (``tests/test_carracing_track.py`` compares the two over many seeds).
"""

from __future__ import annotations

import math

import numpy as np
from gymnasium.envs.box2d.car_racing import SCALE, TRACK_DETAIL_STEP, TRACK_RAD, TRACK_TURN_RATE

__all__ = ["CHECKPOINTS", "carracing_centerline", "START_ALPHA"]

CHECKPOINTS = 12
#: CarRacing's ``start_alpha``: the track starts where it crosses this polar angle.
START_ALPHA = 2 * math.pi * (-0.5) / CHECKPOINTS


def carracing_centerline(np_random: np.random.Generator) -> list[tuple[float, float, float, float]] | None:
    """One attempt of CarRacing's track generator: ``[(alpha, beta, x, y), ...]`` or ``None`` if it fails.

    Draws from ``np_random`` exactly as :meth:`CarRacing._create_track` does, so retrying until it
    succeeds consumes the generator as CarRacing's reset does.
    """
    two_pi = 2 * math.pi
    checkpoints = []
    for c in range(CHECKPOINTS):
        noise = np_random.uniform(0, 2 * math.pi * 1 / CHECKPOINTS)
        alpha = 2 * math.pi * c / CHECKPOINTS + noise
        rad = np_random.uniform(TRACK_RAD / 3, TRACK_RAD)
        if c == 0:
            alpha = 0
            rad = 1.5 * TRACK_RAD
        if c == CHECKPOINTS - 1:
            alpha = 2 * math.pi * c / CHECKPOINTS
            rad = 1.5 * TRACK_RAD
        checkpoints.append((alpha, rad * math.cos(alpha), rad * math.sin(alpha)))
    n_check = len(checkpoints)

    cos, sin, atan2 = math.cos, math.sin, math.atan2
    x, y, beta = 1.5 * TRACK_RAD, 0, 0
    dest_i = 0
    laps = 0
    track = []
    append = track.append
    no_freeze = 2500
    visited_other_side = False
    lim_hi = 1.5 * math.pi
    while True:
        alpha = atan2(y, x)
        if visited_other_side and alpha > 0:
            laps += 1
            visited_other_side = False
        if alpha < 0:
            visited_other_side = True
            alpha += two_pi
        while True:  # the next checkpoint ahead in polar angle
            failed = True
            while True:
                dest_alpha, dest_x, dest_y = checkpoints[dest_i % n_check]
                if alpha <= dest_alpha:
                    failed = False
                    break
                dest_i += 1
                if dest_i % n_check == 0:
                    break
            if not failed:
                break
            alpha -= two_pi
        r1x = cos(beta)
        r1y = sin(beta)
        p1x = -r1y
        p1y = r1x
        proj = r1x * (dest_x - x) + r1y * (dest_y - y)
        while beta - alpha > lim_hi:
            beta -= two_pi
        while beta - alpha < -lim_hi:
            beta += two_pi
        prev_beta = beta
        proj *= SCALE
        if proj > 0.3:
            beta -= min(TRACK_TURN_RATE, abs(0.001 * proj))
        if proj < -0.3:
            beta += min(TRACK_TURN_RATE, abs(0.001 * proj))
        x += p1x * TRACK_DETAIL_STEP
        y += p1y * TRACK_DETAIL_STEP
        append((alpha, prev_beta * 0.5 + beta * 0.5, x, y))
        if laps > 4:
            break
        no_freeze -= 1
        if no_freeze == 0:
            break

    # The closed loop: between the last two crossings of START_ALPHA (the first lap is ignored).
    i1, i2 = -1, -1
    i = len(track)
    while True:
        i -= 1
        if i == 0:
            return None
        if track[i][0] > START_ALPHA and track[i - 1][0] <= START_ALPHA:
            if i2 == -1:
                i2 = i
            else:
                i1 = i
                break
    track = track[i1: i2 - 1]
    first_beta = track[0][1]
    glue = np.sqrt(np.square(math.cos(first_beta) * (track[0][2] - track[-1][2]))
                   + np.square(math.sin(first_beta) * (track[0][3] - track[-1][3])))
    if glue > TRACK_DETAIL_STEP:
        return None
    return track
