"""Follow a racing line: reward closeness to an exported line and driving at its speed there.

Export a line for your track and direction next to this file (or point ``RACING_LINE`` at the export):

    racingline line optimize 2022_may_pro --method mintime --out may.npz
    racingline line export may.npz --format py --out examples/rewards/racing_line.py
    racingline train --config deepracer --track 2022_may_pro --reward examples/rewards/follow_racing_line.py

On DeepRacer's console, where a reward is a single file, paste the export's ``racing_line`` and ``speeds``
lists in place of the loading code below.

Reward per step: 1e-3 off the road; otherwise closeness to the line, ``1 - d / (track_width / 4)``
(``track_width / 4`` is racingline's road edge: the road is half DeepRacer's width), plus the speed match,
``1 - |speed - target| / target``, each at least 1e-3.
"""

import math
import os
import runpy

_LINE_FILE = os.environ.get("RACING_LINE") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                           "racing_line.py")
if not os.path.isfile(_LINE_FILE):
    raise FileNotFoundError(f"no racing line at {_LINE_FILE}: write one with "
                            "`racingline line export LINE.npz --format py --out <that path>` (or set RACING_LINE)")
_line = runpy.run_path(_LINE_FILE)
racing_line = _line["racing_line"]
speeds = _line["speeds"]

_N = len(racing_line)
_WINDOW = 12  # points searched either side of the last nearest point before a full search
_last = [0]


def _nearest(x, y):
    """Index of and distance to the line point nearest (x, y): near the last one, else over the whole line."""
    best_i, best_d2 = _last[0], math.inf
    for k in range(-_WINDOW, _WINDOW + 1):
        i = (_last[0] + k) % _N
        px, py = racing_line[i]
        d2 = (px - x) ** 2 + (py - y) ** 2
        if d2 < best_d2:
            best_i, best_d2 = i, d2
    if best_d2 > 0.25:  # more than 0.5 m away: a new episode or start point
        for i, (px, py) in enumerate(racing_line):
            d2 = (px - x) ** 2 + (py - y) ** 2
            if d2 < best_d2:
                best_i, best_d2 = i, d2
    _last[0] = best_i
    return best_i, math.sqrt(best_d2)


def _distance_to_line(i, x, y):
    """Distance from (x, y) to the line's segments either side of point i."""
    best = math.inf
    for a, b in (((i - 1) % _N, i), (i, (i + 1) % _N)):
        ax, ay = racing_line[a]
        bx, by = racing_line[b]
        dx, dy = bx - ax, by - ay
        den = dx * dx + dy * dy
        t = 0.0 if den == 0 else max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / den))
        best = min(best, math.hypot(x - ax - t * dx, y - ay - t * dy))
    return best


def reward_function(params):
    if params['is_offtrack'] or not params['all_wheels_on_track']:
        return 1e-3
    x, y = params['x'], params['y']
    i, _ = _nearest(x, y)
    distance = _distance_to_line(i, x, y)
    half_road = 0.25 * params['track_width']
    line_reward = max(1e-3, 1.0 - distance / half_road)
    target = max(speeds[i], 0.1)
    speed_reward = max(1e-3, 1.0 - abs(params['speed'] - target) / target)
    return float(line_reward + speed_reward)
