"""DeepRacerEnv: Gymnasium's CarRacing driving a DeepRacer track, with lap metrics in ``info``.

The env is CarRacing's physics and drawing composed with parts that each have one purpose and that
another simulator can reuse without CarRacing:

- :class:`~racingline.tracks.pools.TrackPool` picks each episode's track, direction and start;
- :func:`~racingline.sim.road.build_road` builds the road's Box2D tiles (a :class:`RoadScene` to draw);
- :class:`~racingline.sim.progress.ProgressTracker` follows the car along the centerline;
- after every reset and step the env publishes a frozen :class:`~racingline.sim.state.CarState`
  (``env.state``), which an :class:`~racingline.sim.observers.Observer` turns into the observation and a
  :class:`~racingline.sim.rewards.Reward` into the reward; ``info`` is ``state.info()``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.envs.box2d import car_racing as _cr
from gymnasium.envs.box2d.car_racing import CarRacing, FrictionDetector
from gymnasium.error import InvalidAction

from racingline.choices import OBS_MODES, RENDERERS, REWARDS
from racingline.errors import RewardError
from racingline.sim.car import FastCar
from racingline.sim.geometry import SimTrack, build_sim_track
from racingline.sim.observers import Observer, make_observer
from racingline.sim.progress import ProgressTracker
from racingline.sim.rewards import Reward, make_reward
from racingline.sim.road import START_ALPHA, RoadScene, build_road, procedural_sim_track, reset_road
from racingline.sim.state import CarState
from racingline.tracks.files import Track
from racingline.tracks.pools import TrackPool

__all__ = ["DeepRacerEnv", "FPS", "TRACK_SCALE", "TRACK_WIDTH_SCALE", "OBS_MODES", "RENDERERS", "REWARDS"]

FPS = _cr.FPS
TRACK_SCALE = 25.0
TRACK_WIDTH_SCALE = 0.5
#: Default episode length: one minute of simulated time.
DEFAULT_EPISODE_TIME_S = 60.0
#: Speed below which "reversed" follows the car's heading rather than its velocity (sim units/s).
_MOVING = 1.0
#: Simulator tracks kept per env (a pool's tracks in both directions).
_SIM_CACHE_SIZE = 64


class DeepRacerEnv(CarRacing):
    """CarRacing on a DeepRacer track (or CarRacing's own random tracks), headless by default.

    Args:
        track: a :class:`Track`, a path or name of a ``.npy`` track, a sequence of those (a pool: one is
            sampled per episode), or ``None`` for CarRacing's procedural random track each episode.
            ``"random"`` stands for CarRacing's procedural track, ``"generated"`` for a newly generated
            DeepRacer-like track.
        continuous: continuous ``[steer, gas, brake]`` actions, else CarRacing's 5 discrete actions.
        render_mode: ``None`` (headless), ``"rgb_array"`` (full frames) or ``"human"`` (a window).
        obs: ``"pixels"`` (car-centred top view, ``size x size``, grayscale by default) or
            ``"features"`` (float32 vector, see :mod:`racingline.sim.features`; nothing is drawn).
        renderer: ``"fast"`` (NumPy sampling of a pre-rasterised road) or ``"pygame"`` (CarRacing's drawing).
        size: pixel observation side; grayscale: one channel instead of RGB.
        frame_skip: physics steps per agent step (the action repeats, rewards sum, one observation).
        reward: ``"tiles"`` (CarRacing: +1000/N per new road tile, -0.1 per frame), ``"progress"``
            (+1000 per lap of centerline progress, signed, -0.1 per frame), a DeepRacer reward file
            (``"path/reward.py"``, see :mod:`racingline.deepracer.reward_file`: when its function fails,
            the step ends the episode with the one-line message in ``info["reward_error"]``), or a
            :class:`Reward`.
        terminate_on_off_track: end the episode when all four wheels leave the road (DeepRacer's rule).
        off_track_penalty: reward added when an episode ends that way.
        max_episode_steps: agent steps before truncation (default: 60 s of sim time).
        start_waypoint: waypoint index to start from, or ``"random"``.
        reverse: drive the track the other way; ``"random"`` picks a direction per episode.
        track_weights: sampling weights of a pool.
        generated_every: a ``"generated"`` pool member makes a new procedural DeepRacer-like track
            (:func:`racingline.tracks.generator.generate_track`) every this many episodes that draw it.
        generated_width_m: the road width of those tracks: metres, ``(lo, hi)`` (drawn per track), or
            ``None`` (DeepRacer's 1.07 m).
        track_scale, track_width_scale: metres -> sim units, and the road-width factor (tutorial: 25, 0.5).
        lap_complete_percent: kept for CarRacing compatibility (lap completion uses centerline progress).
        observer: an :class:`Observer` to use instead of the built-in one that ``obs`` names.
    """

    #: The car built at reset: CarRacing's physics, bit for bit, with a faster step.
    _car_class = FastCar

    metadata = {"render_modes": ["human", "rgb_array", "state_pixels"], "render_fps": FPS}

    def __init__(
        self,
        track: Track | str | os.PathLike | Sequence[Any] | None = None,
        *,
        continuous: bool = False,
        render_mode: str | None = None,
        obs: str = "pixels",
        renderer: str = "fast",
        size: int = 64,
        grayscale: bool = True,
        frame_skip: int = 1,
        reward: str | Reward = "tiles",
        terminate_on_off_track: bool = False,
        off_track_penalty: float = -100.0,
        max_episode_steps: int | None = None,
        start_waypoint: int | str = 0,
        reverse: bool | str = False,
        track_weights: Sequence[float] | None = None,
        generated_every: int = 1,
        generated_width_m: float | Sequence[float] | None = None,
        track_scale: float = TRACK_SCALE,
        track_width_scale: float = TRACK_WIDTH_SCALE,
        lap_complete_percent: float = 0.95,
        domain_randomize: bool = False,
        observer: Observer | None = None,
    ) -> None:
        if obs not in OBS_MODES:
            raise ValueError(f"obs: unknown observation mode {obs!r}; choose one of {', '.join(OBS_MODES)}")
        if renderer not in RENDERERS:
            raise ValueError(f"renderer: unknown renderer {renderer!r}; choose one of {', '.join(RENDERERS)}")
        if isinstance(reward, str) and reward not in REWARDS and not reward.strip().lower().endswith(".py"):
            raise ValueError(f"reward: unknown reward {reward!r}; choose one of {', '.join(REWARDS)} "
                             "or a DeepRacer reward file (.py)")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode: {render_mode!r} is not one of {self.metadata['render_modes']}")
        if int(frame_skip) < 1:
            raise ValueError(f"frame_skip: must be >= 1, got {frame_skip}")
        if int(size) < 8:
            raise ValueError(f"size: must be >= 8, got {size}")
        self.pool = TrackPool(track, track_weights, reverse=reverse, start_waypoint=start_waypoint,
                              generated_every=generated_every, generated_width_m=generated_width_m)
        super().__init__(render_mode=render_mode, lap_complete_percent=lap_complete_percent,
                         domain_randomize=domain_randomize, continuous=continuous)
        self.obs_mode = obs
        self.renderer = renderer
        self.size = int(size)
        self.grayscale = bool(grayscale)
        self.frame_skip = int(frame_skip)
        self.reward_mode = reward if isinstance(reward, str) else type(reward).__name__
        self.terminate_on_off_track = bool(terminate_on_off_track)
        self.off_track_penalty = float(off_track_penalty)
        self.start_waypoint = start_waypoint
        self.reverse = reverse
        self.generated_every = int(generated_every)
        self.track_scale = float(track_scale)
        self.track_width_scale = float(track_width_scale)
        if max_episode_steps is None:
            max_episode_steps = int(math.ceil(DEFAULT_EPISODE_TIME_S * FPS / self.frame_skip))
        self.max_episode_steps = int(max_episode_steps)

        self.reward_fn: Reward = make_reward(reward, off_track_penalty=self.off_track_penalty) \
            if isinstance(reward, str) else reward
        #: CarRacing's running tile score loses 0.1 per frame only under its own (tiles) reward, as before.
        self._keeps_tile_score = bool(getattr(self.reward_fn, "keeps_tile_score", False))
        self.observer: Observer = observer if observer is not None else make_observer(
            obs, renderer=renderer, size=self.size, grayscale=self.grayscale, draw=self.draw_state_pixels)
        self.observation_space = self.observer.observation_space
        self._sim_cache: dict[tuple[Track, bool], SimTrack] = {}
        self.sim_track: SimTrack | None = None
        self.scene: RoadScene | None = None
        self.tracker: ProgressTracker | None = None
        #: The car state after the last reset or step (what observers, rewards and controllers read).
        self.state: CarState | None = None

    # ------------------------------------------------------------------ tracks
    @property
    def tracks(self) -> list[Track | str | None]:
        """The pool this env samples from (``None``: CarRacing's procedural track; ``"generated"``)."""
        return [None if m == "random" else m for m in self.pool.members]

    def _sim_track_for(self, track: Track, reverse: bool) -> SimTrack:
        key = (track, reverse)  # Tracks hash by identity; holding the key keeps ids from being reused
        sim = self._sim_cache.get(key)
        if sim is None:
            drive = track.reversed() if reverse else track
            sim = build_sim_track(drive, track_scale=self.track_scale, track_width_scale=self.track_width_scale)
            if len(self._sim_cache) > _SIM_CACHE_SIZE:
                self._sim_cache.clear()
            self._sim_cache[key] = sim
        return sim

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode. ``options`` may hold ``track`` (pool index or Track), ``start_waypoint``, ``reverse``."""
        super(CarRacing, self).reset(seed=seed)
        options = dict(options or {})
        rng = self.np_random
        draw = self.pool.draw(rng, track=options.get("track"), reverse=options.get("reverse"))
        if draw.retired is not None:
            self._sim_cache.pop((draw.retired, False), None)
            self._sim_cache.pop((draw.retired, True), None)
        track, reverse = draw.track, draw.reverse
        sim = None if track is None else self._sim_track_for(track, reverse)
        # The same track as the last episode: keep its road bodies (rebuilding them is most of a reset).
        reuse = sim is not None and sim is self.sim_track and bool(self.road) and self.car is not None \
            and not self.domain_randomize
        if reuse:
            self.car.destroy()
        else:
            self._destroy()
        self.world.contactListener_bug_workaround = FrictionDetector(self, self.lap_complete_percent)
        self.world.contactListener = self.world.contactListener_bug_workaround
        self.reward = 0.0
        self.prev_reward = 0.0
        self.tile_visited_count = 0
        self.t = 0.0
        self.new_lap = False
        if self.domain_randomize:
            self._reinit_colors(options.get("randomize", True))

        if track is None:
            self.road_poly = []
            sim = procedural_sim_track(rng, track_scale=self.track_scale, track_width_scale=self.track_width_scale)
            self.start_alpha = START_ALPHA
        self.sim_track = sim
        self.track_reversed = reverse
        self.track_name = sim.track.name if track is None else track.name
        if reuse:
            reset_road(self.road, self.road_shades)
            self.road_poly = list(self.road_poly)  # a new list: renderers see a new episode
        else:
            self.road, self.road_poly, self.road_shades = build_road(self.world, self.fd_tile, self.road_color, sim)
            self.track = [tuple(row) for row in sim.tiles]

        start = self.pool.start_index(rng, sim.track.n_waypoints, options.get("start_waypoint"))
        self.start_index = start
        i0 = int(sim.waypoint_dense_index[start])
        x, y = sim.dense_xy[i0]
        tx, ty = sim.dense_tangent[i0]
        angle = math.atan2(ty, tx) - math.pi / 2  # CarRacing's car faces +y at angle 0
        self.car = self._car_class(self.world, angle, float(x), float(y))
        self.playfield = sim.extent + 120.0
        self.scene = RoadScene(sim=sim, tiles=self.road, polys=self.road_poly, shades=self.road_shades,
                               playfield=self.playfield, bg_color=self.bg_color, grass_color=self.grass_color,
                               road_color=self.road_color)
        self.tracker = ProgressTracker(sim, i0, max_jump=10.0 + 5.0 * self.frame_skip)
        self.steps = 0
        self.off_track_count = 0
        self._was_off = False

        # Settle contacts (wheels on the start tiles) without an action, as CarRacing's reset does.
        self.car.step(1.0 / FPS)
        self.world.Step(1.0 / FPS, 6 * 30, 2 * 30)
        self.t = 0.0  # lap time counts from the first action
        self._frames = 0
        self.tracker.update(*self.car.hull.position)
        self.state = state = self._snapshot((), (), self.prev_reward, off_track=None)
        if self.render_mode == "human":
            self.render()
        return self.observer.observe(state), state.info()

    def _controls(self, action) -> tuple[float, float, float]:
        """CarRacing's ``(steer, gas, brake)`` for an action, checked."""
        if self.continuous:
            a = np.asarray(action, dtype=np.float64)
            s, g, b = a.tolist() if a.shape == (3,) else (math.nan,) * 3
            if not (math.isfinite(s) and math.isfinite(g) and math.isfinite(b)):
                raise InvalidAction(f"you passed the invalid action `{action}`. "
                                    f"The supported action_space is `{self.action_space}`")
            steer = -(-1.0 if s < -1.0 else (1.0 if s > 1.0 else s))
            gas = 0.0 if g < 0.0 else (1.0 if g > 1.0 else g)
            brake = 0.0 if b < 0.0 else (1.0 if b > 1.0 else b)
            return steer, gas, brake
        if not (isinstance(action, (int, np.integer)) and not isinstance(action, bool) and 0 <= action < 5) \
                and not self.action_space.contains(action):
            raise InvalidAction(f"you passed the invalid action `{action}`. The supported action_space is `{self.action_space}`")
        return -0.6 * (action == 1) + 0.6 * (action == 2), 0.2 * (action == 3), 0.8 * (action == 4)

    def step(self, action):
        """Advance ``frame_skip`` physics steps with ``action`` held; one observation, summed reward."""
        assert self.car is not None, "call reset() before step()"
        steer, gas, brake = self._controls(action)
        terminated = False
        off_track = False
        outside = False
        off_end = False
        dt = 1.0 / FPS
        car = self.car
        hull = car.hull
        wheels = car.wheels
        tracker = self.tracker
        keep_score = self._keeps_tile_score
        score_before = self.prev_reward
        advances: list[float] = []
        scores: list[float] = []
        for _ in range(self.frame_skip):
            # Applied every physics step, as CarRacing under a frame-skip wrapper does (gas ramps per call).
            car.steer(steer)
            car.gas(gas)
            car.brake(brake)
            car.step(dt)
            self.world.Step(dt, 6 * 30, 2 * 30)
            self._frames += 1
            self.t = self._frames / FPS  # exact multiples of 1/FPS (no float drift in lap times)
            car.fuel_spent = 0.0
            x, y = hull.position
            advances.append(tracker.update(x, y))
            if keep_score:
                self.reward -= 0.1
                self.prev_reward = self.reward
            scores.append(self.reward)
            off_track = not any(w.tiles for w in wheels)
            outside = abs(x) > self.playfield or abs(y) > self.playfield
            if outside:
                terminated = True
            elif off_track and self.terminate_on_off_track:
                off_end = terminated = True
            if tracker.lap_complete:
                terminated = True
            if terminated:
                break
        self.steps += 1
        if off_track and not self._was_off:
            self.off_track_count += 1
        self._was_off = off_track
        prev = self.state
        self.state = state = self._snapshot(tuple(advances), tuple(scores), score_before, off_track=off_track,
                                            outside=outside, off_end=off_end)
        error = None
        try:
            reward = self.reward_fn(state, prev)
        except RewardError as exc:  # a reward file's function failed: the episode ends, info carries it
            reward, terminated, error = 0.0, True, str(exc)
        truncated = (not terminated) and self.steps >= self.max_episode_steps
        info = state.info()
        if error is not None:
            info["reward_error"] = error
        if outside:
            info["out_of_playfield"] = True
        if self.render_mode == "human":
            self.render()
        return self.observer.observe(state), float(reward), terminated, truncated, info

    # ------------------------------------------------------------------ state
    def _snapshot(self, advances: tuple, scores: tuple, score_before: float, *, off_track: bool | None,
                  outside: bool = False, off_end: bool = False) -> CarState:
        """The :class:`CarState` now."""
        car = self.car
        hull = car.hull
        w = car.wheels
        sim = self.sim_track
        tracker = self.tracker
        vx, vy = hull.linearVelocity
        px, py = hull.position
        a = hull.angle
        proj = tracker.proj
        tx, ty = sim.dense_tangent[proj]
        if math.hypot(vx, vy) > _MOVING:
            along = vx * tx + vy * ty
        else:
            along = -math.sin(a) * tx + math.cos(a) * ty
        on_road = sum(1 for wh in w if wh.tiles)
        return CarState(
            x=px, y=py, angle=a, vx=vx, vy=vy, yaw_rate=hull.angularVelocity, steer_angle=w[0].joint.angle,
            wheel_omega=(w[0].omega, w[1].omega, w[2].omega, w[3].omega), wheels_on_road=on_road,
            off_track=bool(on_road == 0) if off_track is None else bool(off_track),
            proj=proj, progress=tracker.progress, lap_complete=tracker.lap_complete, reversed=bool(along < 0),
            frame_advance=advances, track_length=sim.length, out_of_playfield=outside, off_track_end=off_end,
            steps=self.steps, time_s=self.t, off_track_count=self.off_track_count, score_before=score_before,
            frame_score=scores, tiles_visited=self.tile_visited_count, sim=sim, road=self.scene, car=car,
            track_name=self.track_name, track_reversed=self.track_reversed, start_waypoint=self.start_index,
        )

    @property
    def progress(self) -> float:
        """Percent (0-100) of the centerline covered in the track's direction since the start."""
        return self.tracker.progress

    @property
    def lap_complete(self) -> bool:
        """The car has covered the whole centerline this episode."""
        return self.tracker is not None and self.tracker.lap_complete

    # ------------------------------------------------------------------ drawing
    def draw_state_pixels(self) -> np.ndarray:
        """CarRacing's own state drawing (pygame), scaled straight to ``size x size`` RGB."""
        import pygame

        self._render("state_pixels")
        small = pygame.transform.smoothscale(self.surf, (self.size, self.size))
        return np.transpose(np.array(pygame.surfarray.pixels3d(small)), axes=(1, 0, 2))

    def _render_road(self, zoom, translation, angle):
        """CarRacing's road drawing with the playfield sized to this track; off-screen grass is skipped."""
        bounds = self.playfield
        field = [(bounds, bounds), (bounds, -bounds), (-bounds, -bounds), (-bounds, bounds)]
        self._draw_colored_polygon(self.surf, field, self.bg_color, zoom, translation, angle, clip=False)
        g = _cr.GRASS_DIM
        cx, cy = self.car.hull.position
        reach = 2.0 * _cr.WINDOW_W / max(zoom, 1e-6)
        n = int(math.ceil(bounds / g)) + 1
        for gx in range(-n - (n % 2), n, 2):
            if abs(g * gx - cx) > reach:
                continue
            for gy in range(-n - (n % 2), n, 2):
                if abs(g * gy - cy) > reach:
                    continue
                poly = [(g * gx + g, g * gy), (g * gx, g * gy), (g * gx, g * gy + g), (g * gx + g, g * gy + g)]
                self._draw_colored_polygon(self.surf, poly, self.grass_color, zoom, translation, angle)
        for poly, color in self.road_poly:
            self._draw_colored_polygon(self.surf, poly, [int(c) for c in color], zoom, translation, angle)

    def render(self):
        """Full frame: ``rgb_array`` returns a 400x600x3 image; ``human`` draws to a window."""
        if self.render_mode is None:
            return None
        return self._render(self.render_mode)

    def close(self) -> None:
        super().close()
