"""``TorcsEnv``: a Gymnasium env whose car is driven in TORCS, lock-step, through racingline's robot.

Observation (``float32``, :data:`OBS_FIELDS` in order, each scaled to about [-1, 1]): the SCR sensors
``angle`` (to the track direction, /pi), ``trackPos`` (0 centre, +-1 at the edges, + = left), ``speedX/Y/Z``
(/300 km/h), the 19 range-finders ``track`` (metres to the edge /200, 0 off the road), ``wheelSpinVel``
(4 wheels, /300 rad/s), ``rpm`` (/10,000), ``gear`` (/6), ``curLapTime`` and ``lastLapTime`` (/300 s);
with ``opponent_sensors`` also the 36 ``opponents`` sectors (/200 m). Values are clipped into the box.

Action: ``[steer, gas, brake]`` in ``[-1, 1] x [0, 1] x [0, 1]`` (CarRacing's convention: steer +1 = right);
gears are automatic. One agent step lasts ``frame_skip`` robot steps of 0.02 s simulated time.

Reward: racingline's progress reward: +1000 per lap of distance raced along the track, -0.1 per 0.02 s,
``off_track_penalty`` when leaving the road (``|trackPos| > 1``) ends the episode. The episode ends when
``laps`` laps are complete (``info["lap_complete"]``, ``info["lap_time_s"]``, ``info["lap_times_s"]``),
on leaving the road (``terminate_on_off_track``), when the car makes less than 5 m of progress in ``stall_s``
seconds,
or at ``max_episode_steps`` (truncated).

After each reset and step the env publishes the car as ``env.state``, a
:class:`~racingline.torcs.state.TorcsState` (CarState's fields, in TORCS's metres), which recorders and
the line controller (:mod:`racingline.torcs.expert`) read as they read a CarRacing car.

Every reset starts a new TORCS race (a robot cannot restart one): with ``prelaunch`` the next race's
process is started during the current episode and waits, so a reset costs a connection, not a launch.
"""

from __future__ import annotations

import contextlib
import math
import os
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from racingline.torcs.install import TorcsError, find_torcs, resolve_robot, resolve_track
from racingline.torcs.process import DEFAULT_ANGLES_DEG, TorcsProcess, parse_message
from racingline.torcs.race import DEFAULT_CAR, RaceSpec, load_race
from racingline.torcs.state import TorcsState, TorcsTrackView

__all__ = ["TorcsEnv", "OBS_FIELDS", "obs_index", "STEP_S"]

#: Simulated seconds between two robot steps (TORCS's robot period).
STEP_S = 0.02
#: The front wheels' angle at full steer of racingline's car (car1-stock1's steer lock, 21 degrees).
STEER_LOCK_RAD = math.radians(21.0)
#: ``(field, width, scale)`` of the observation, in order; each value is divided by its scale.
OBS_FIELDS: tuple[tuple[str, int, float], ...] = (
    ("angle", 1, math.pi), ("trackPos", 1, 1.0), ("speedX", 1, 300.0), ("speedY", 1, 300.0), ("speedZ", 1, 300.0),
    ("track", 19, 200.0), ("wheelSpinVel", 4, 300.0), ("rpm", 1, 10000.0), ("gear", 1, 6.0),
    ("curLapTime", 1, 300.0), ("lastLapTime", 1, 300.0),
)
_OPPONENTS = ("opponents", 36, 200.0)
#: Bounds of each field after scaling (trackPos may read up to +-2 just off the road).
_BOUNDS = {"trackPos": (-2.0, 2.0), "track": (0.0, 1.0), "rpm": (0.0, 1.5), "gear": (-1.0 / 6.0, 1.0),
           "curLapTime": (-1.0, 1.0), "lastLapTime": (0.0, 1.0), "opponents": (0.0, 1.0)}
#: Progress (metres along the track) within ``stall_s`` that counts as moving.
STALL_PROGRESS_M = 5.0
#: The single-number sensors the env reads besides the observation.
_SCALARS = ("angle", "trackPos", "speedX", "speedY", "distRaced", "lastLapTime", "laps", "time", "x", "y", "yaw",
            "racePos", "damage")


def obs_index(name: str, opponent_sensors: bool = False) -> slice:
    """Where field ``name`` lies in the observation vector."""
    at = 0
    for field, width, _ in OBS_FIELDS + ((_OPPONENTS,) if opponent_sensors else ()):
        if field == name:
            return slice(at, at + width)
        at += width
    raise KeyError(name)


@dataclass
class _Episode:
    """What one episode has accumulated."""

    track: str
    length_m: float
    steps: int = 0
    laps_done: int = 0
    lap_times: list[float] | None = None
    off_track_count: int = 0
    was_off: bool = False
    dist_m: float = 0.0
    best_dist_m: float = -math.inf
    best_time_s: float = 0.0
    proj: int | None = None
    yaw: float | None = None
    steer: float = 0.0


def _kill(procs: list[TorcsProcess | None]) -> None:
    for p in procs:
        if p is not None:
            p.close()


class TorcsEnv(gym.Env):
    """A car in TORCS driven by the agent (see the module docstring for spaces, reward and episode ends).

    Args:
        track: a TORCS track (``road/g-track-1``), a list of them (a pool, one drawn per episode, with
            ``track_weights``), or a race file (``.yaml``; see :mod:`racingline.torcs.race`).
        laps: laps per episode. opponents: shipped robots racing too (``bt``, ``berniw:1``).
        start: racingline's grid place (0 = pole). car: racingline's TORCS car.
        frame_skip: robot steps (0.02 s each) per agent step, the action held.
        max_episode_steps: agent steps before truncation; None = ``laps`` laps at 8 m/s.
        terminate_on_off_track / off_track_penalty: end on leaving the road, and its reward.
        stall_s: end the episode after this many simulated seconds without 5 m of progress (None: never).
        opponent_sensors: add the 36 opponent sectors to the observation.
        render_mode: None (results only, no window) or ``"human"`` (TORCS's own window; needs a display).
        port: the robot's UDP port (None: a free port per race). prelaunch: start the next race early.
        timeout_s: how long either side waits for the other before giving up.
    """

    metadata = {"render_modes": ["human"], "render_fps": 50}

    def __init__(self, track: str | Sequence[str] | RaceSpec = "road/g-track-1", *, laps: int = 1,
                 opponents: Sequence[str] = (), start: int = 0, car: str = DEFAULT_CAR,
                 track_weights: Sequence[float] | None = None, frame_skip: int = 1,
                 max_episode_steps: int | None = None, terminate_on_off_track: bool = True,
                 off_track_penalty: float = -100.0, time_penalty: float = 0.1, stall_s: float | None = 20.0,
                 opponent_sensors: bool = False, render_mode: str | None = None, port: int | None = None,
                 prelaunch: bool = True, timeout_s: float = 60.0) -> None:
        from racingline.torcs.setup import ready_lib_dir

        if render_mode not in (None, "human"):
            raise TorcsError(f"render_mode {render_mode!r}: TorcsEnv renders only 'human' (TORCS's window) or None")
        if int(frame_skip) < 1:
            raise TorcsError(f"frame_skip {frame_skip}: must be at least 1")
        self.install = find_torcs()
        self.lib_dir = ready_lib_dir(self.install)
        if isinstance(track, RaceSpec):
            spec, pool = track, [track.track]
        elif isinstance(track, (str, os.PathLike)) and str(track).lower().endswith((".yaml", ".yml")):
            spec = load_race(track)
            pool = [spec.track]
        else:
            pool = [str(track)] if isinstance(track, (str, os.PathLike)) else [str(t) for t in track]
            spec = RaceSpec(track=pool[0] if pool else "", laps=int(laps), opponents=tuple(opponents),
                            start=int(start), car=car)
        if not pool:
            raise TorcsError("track: no TORCS track given")
        spec = spec.checked(self.install)
        self.tracks = [resolve_track(self.install, t) for t in pool]
        if track_weights is not None:
            w = np.asarray(track_weights, dtype=np.float64)
            if w.shape != (len(self.tracks),) or (w < 0).any() or w.sum() <= 0:
                raise TorcsError(f"track_weights: need {len(self.tracks)} non-negative weights, not all 0")
            self._weights = w / w.sum()
        else:
            self._weights = None
        self.race = spec
        self.laps = int(spec.laps)
        self.opponents = tuple((r.module, r.index) for r in (resolve_robot(self.install, o) for o in spec.opponents))
        self.frame_skip = int(frame_skip)
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        self.terminate_on_off_track = bool(terminate_on_off_track)
        self.off_track_penalty = float(off_track_penalty)
        self.time_penalty = float(time_penalty)
        self.stall_s = None if stall_s is None else float(stall_s)
        self.opponent_sensors = bool(opponent_sensors)
        self.render_mode = render_mode
        self.port = port
        self.prelaunch = bool(prelaunch) and port is None and render_mode is None
        self.timeout_s = float(timeout_s)
        fields = OBS_FIELDS + ((_OPPONENTS,) if self.opponent_sensors else ())
        low = np.concatenate([np.full(w, _BOUNDS.get(f, (-1.0, 1.0))[0]) for f, w, _ in fields]).astype(np.float32)
        high = np.concatenate([np.full(w, _BOUNDS.get(f, (-1.0, 1.0))[1]) for f, w, _ in fields]).astype(np.float32)
        self._fields = fields
        self._inv_scale = np.concatenate([np.full(w, 1.0 / scale) for _, w, scale in fields]).astype(np.float32)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self.action_space = spaces.Box(np.array([-1, 0, 0], np.float32), np.array([1, 1, 1], np.float32),
                                       dtype=np.float32)
        self._views: dict[str, TorcsTrackView] = {}
        self._proc: TorcsProcess | None = None
        self._spare: TorcsProcess | None = None
        self._next_track: str | None = None
        self._procs: list[TorcsProcess | None] = []
        self._finalizer = weakref.finalize(self, _kill, self._procs)
        self._ep: _Episode | None = None
        self._obs = np.zeros(self.observation_space.shape, np.float32)
        #: The car after the last reset or step (None before the first reset).
        self.state: TorcsState | None = None
        self.last_message: dict[str, str] = {}
        self._num: dict[str, float] = {}

    # ------------------------------------------------------------------ races
    def track_view(self, track: str) -> TorcsTrackView:
        """``track``'s shape (from TORCS's track description, read once per track)."""
        if track not in self._views:
            from racingline.torcs.tracks import torcs_track

            self._views[track] = TorcsTrackView(torcs_track(track, install=self.install))
        return self._views[track]

    def track_length_m(self, track: str) -> float:
        """The length of ``track`` (from TORCS's track description)."""
        return self.track_view(track).track.length_m

    def _draw_track(self) -> str:
        if len(self.tracks) == 1:
            return self.tracks[0]
        return self.tracks[int(self.np_random.choice(len(self.tracks), p=self._weights))]

    def _launch(self, track: str) -> TorcsProcess:
        # TORCS ends the race once its leader finishes: with robots ahead, the race is made long enough
        # that they cannot finish before the agent does (robots lap at most ~5x faster than 8 m/s).
        race_laps = self.laps + 1 if not self.opponents else 20 * self.laps + 1
        proc = TorcsProcess(self.install, self.lib_dir, track, laps=race_laps, opponents=self.opponents,
                            start=self.race.start, car=self.race.car, port=self.port, timeout_s=self.timeout_s,
                            angles_deg=DEFAULT_ANGLES_DEG, gui=self.render_mode == "human")
        self._procs.append(proc)
        return proc

    def _connect(self, proc: TorcsProcess) -> TorcsProcess:
        """``proc`` connected; a port taken between choosing and binding it (auto ports) is retried."""
        from racingline.torcs.process import PortInUse

        for _ in range(3):
            try:
                proc.connect(self.timeout_s)
                return proc
            except PortInUse:
                self._drop(proc)
                if self.port is not None:
                    raise
                proc = self._launch(proc.track)
        proc.connect(self.timeout_s)
        return proc

    def _drop(self, proc: TorcsProcess | None) -> None:
        if proc is not None:
            proc.close()
            with contextlib.suppress(ValueError):
                self._procs.remove(proc)

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start a new race (``options={"track": NAME}`` picks its track) and return the first observation."""
        super().reset(seed=seed)
        self._drop(self._proc)
        self._proc = None
        if options and options.get("track") is not None:
            track = resolve_track(self.install, str(options["track"]))
        elif seed is None and self._next_track is not None:
            track = self._next_track
        else:
            track = self._draw_track()
        spare, self._spare = self._spare, None
        if spare is not None and (spare.track != track or not spare.alive()):
            self._drop(spare)
            spare = None
        proc = spare if spare is not None else self._launch(track)
        if self.prelaunch:  # the next race loads while this one runs
            self._next_track = self._draw_track()
            self._spare = self._launch(self._next_track)
        self._proc = self._connect(proc)
        self._ep = _Episode(track=track, length_m=self.track_length_m(track), lap_times=[])
        msg = self._proc.receive(self.timeout_s)
        if msg is None or msg.startswith("***"):
            raise TorcsError(f"TORCS ended the race on {track} before its first step: {self._proc.log_tail()}")
        self._read(msg)
        self._publish(off=False, off_end=False)
        return self._obs.copy(), self._info(off=False)

    def step(self, action):
        """Apply ``[steer, gas, brake]`` for ``frame_skip`` robot steps; see the module docstring."""
        if self._proc is None or self._ep is None:
            raise RuntimeError("TorcsEnv.step() before reset()")
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(3), self.action_space.low, self.action_space.high)
        ep = self._ep
        ep.steer = float(-a[0])
        self._proc.send(f"(accel {a[1]:.5f})(brake {a[2]:.5f})(steer {-a[0]:.5f})(meta 0)(repeat {self.frame_skip})")
        msg = self._proc.receive(self.timeout_s)
        ep.steps += 1
        prev_dist = ep.dist_m
        if msg is None or msg.startswith("***"):  # TORCS ended the race (e.g. the car was taken out)
            info = self._info(off=False)
            info["race_ended"] = True
            return self._obs.copy(), 0.0, True, False, info
        self._read(msg)
        m = self._num
        off = abs(m["trackPos"]) > 1.0
        if off and not ep.was_off:
            ep.off_track_count += 1
        ep.was_off = off
        done_laps = max(0, int(m["laps"]) - 1)
        if done_laps > ep.laps_done:
            ep.laps_done = done_laps
            ep.lap_times.append(m["lastLapTime"])
        reward = 1000.0 * (ep.dist_m - prev_dist) / ep.length_m - self.time_penalty * self.frame_skip
        terminated = ep.laps_done >= self.laps
        if off and self.terminate_on_off_track and not terminated:
            terminated = True
            reward += self.off_track_penalty
        stalled = False
        time_s = m["time"]
        if ep.dist_m > ep.best_dist_m + STALL_PROGRESS_M:
            ep.best_dist_m, ep.best_time_s = ep.dist_m, time_s
        elif self.stall_s is not None and time_s - max(ep.best_time_s, 0.0) > self.stall_s and not terminated:
            terminated = stalled = True
        limit = self.max_episode_steps
        if limit is None:
            limit = math.ceil(self.laps * ep.length_m / 8.0 / (STEP_S * self.frame_skip))
        truncated = not terminated and ep.steps >= limit
        self._publish(off=off, off_end=bool(off and self.terminate_on_off_track and not ep.laps_done >= self.laps))
        info = self._info(off=off)
        if stalled:
            info["stalled"] = True
        if terminated or truncated:  # the race is over for this episode: free the process now
            self._drop(self._proc)
            self._proc = None
        return self._obs.copy(), float(reward), terminated, truncated, info

    def _read(self, msg: str) -> None:
        m = parse_message(msg)
        self.last_message = m
        try:
            values = np.array(" ".join(m[name] for name, _, _ in self._fields).split(), dtype=np.float32)
        except KeyError as exc:
            raise TorcsError(f"racingline's robot sent no {exc.args[0]!r}: rebuild it with racingline torcs setup "
                             "--force") from None
        if values.shape != self._obs.shape:
            raise TorcsError(f"racingline's robot sent {values.size} observation values, expected "
                             f"{self._obs.size}: rebuild it with racingline torcs setup --force")
        np.multiply(values, self._inv_scale, out=values)
        np.clip(values, self.observation_space.low, self.observation_space.high, out=self._obs)
        self._num = {k: float(m[k]) for k in _SCALARS}
        if self._ep is not None:
            self._ep.dist_m = self._num["distRaced"]

    def _publish(self, *, off: bool, off_end: bool) -> None:
        """Set :attr:`state` from the last message."""
        ep = self._ep
        assert ep is not None
        m = self._num
        view = self.track_view(ep.track)
        yaw = m["yaw"]
        dt = STEP_S * self.frame_skip
        yaw_rate = 0.0 if ep.yaw is None or ep.steps == 0 else math.remainder(yaw - ep.yaw, math.tau) / dt
        ep.yaw = yaw
        ep.proj = view.nearest(m["x"], m["y"], ep.proj)
        c, s = math.cos(yaw), math.sin(yaw)
        sx, sy = m["speedX"] / 3.6, m["speedY"] / 3.6
        laps = self.laps
        self.state = TorcsState(
            x=m["x"], y=m["y"], yaw=yaw, angle=math.remainder(yaw - math.pi / 2, math.tau),
            vx=sx * c - sy * s, vy=sx * s + sy * c, speed_x_mps=sx, yaw_rate=yaw_rate,
            steer_angle=ep.steer * STEER_LOCK_RAD,
            wheel_omega=tuple(float(w) for w in self.last_message["wheelSpinVel"].split()[:4]),
            track_pos=m["trackPos"], wheels_on_road=0 if off else 4,
            off_track=bool(off), proj=ep.proj,
            progress=float(np.clip(100.0 * ep.dist_m / (laps * ep.length_m), 0.0, 100.0)),
            lap_complete=ep.laps_done >= laps, reversed=abs(m["angle"]) > math.pi / 2, track_length=ep.length_m,
            off_track_end=off_end, steps=ep.steps,
            time_s=float(sum(ep.lap_times or ())) if ep.laps_done >= laps else max(0.0, m["time"]),
            off_track_count=ep.off_track_count,
            distance_m=ep.dist_m, laps_completed=ep.laps_done, lap_times_s=tuple(ep.lap_times or ()), sim=view,
            track_name=ep.track)

    def _info(self, *, off: bool) -> dict[str, Any]:
        ep = self._ep
        assert ep is not None
        m = self._num
        complete = ep.laps_done >= self.laps
        time_s = max(0.0, m["time"])
        speed_mps = math.hypot(m["speedX"], m["speedY"]) / 3.6
        return {
            "progress": float(np.clip(100.0 * ep.dist_m / (self.laps * ep.length_m), 0.0, 100.0)),
            "lap_complete": complete,
            "lap_steps": ep.steps,
            "lap_time_s": float(sum(ep.lap_times)) if complete else time_s,
            "lap_times_s": list(ep.lap_times),
            "laps_completed": ep.laps_done,
            "off_track": bool(off),
            "off_track_count": ep.off_track_count,
            "reversed": abs(m["angle"]) > math.pi / 2,
            "position_m": (float(m["x"]), float(m["y"])),
            "speed_mps": speed_mps,
            "heading_deg": math.degrees(float(m["yaw"])),
            "track": ep.track,
            "track_reversed": False,
            "start_waypoint": 0,
            "track_length_m": ep.length_m,
            "distance_m": ep.dist_m,
            "race_position": int(m["racePos"]),
            "damage": float(m["damage"]),
            "sim_time_s": time_s,
        }

    def render(self):
        """TORCS draws its own window in ``render_mode="human"``; nothing to return."""
        return None

    def close(self) -> None:
        """Kill this env's TORCS processes and remove their folders."""
        _kill(list(self._procs))
        self._procs.clear()
        self._proc = self._spare = None
        super().close()
