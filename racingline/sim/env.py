"""DeepRacerEnv: Gymnasium's CarRacing driving a DeepRacer track, with lap metrics in ``info``."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import Box2D
import numpy as np
from gymnasium import spaces
from gymnasium.envs.box2d import car_racing as _cr
from gymnasium.envs.box2d.car_racing import CarRacing, FrictionDetector
from gymnasium.error import InvalidAction

from racingline.sim.car import FastCar
from racingline.sim.carracing_track import START_ALPHA, carracing_centerline
from racingline.sim.features import FEATURE_HIGH, FEATURE_LOW, LOOKAHEAD_M, compute_features
from racingline.sim.geometry import SimTrack, build_sim_track
from racingline.sim.raster import GRAY_WEIGHTS
from racingline.tracks.files import Track, TrackError, load_track, track_from_array

__all__ = ["DeepRacerEnv", "FPS", "TRACK_SCALE", "TRACK_WIDTH_SCALE", "OBS_MODES", "RENDERERS", "REWARDS"]

FPS = _cr.FPS
TRACK_SCALE = 25.0
TRACK_WIDTH_SCALE = 0.5
OBS_MODES = ("pixels", "features")
RENDERERS = ("fast", "pygame")
REWARDS = ("tiles", "progress")
#: Default episode length: one minute of simulated time.
DEFAULT_EPISODE_TIME_S = 60.0
#: Speed below which "reversed" follows the car's heading rather than its velocity (sim units/s).
_MOVING = 1.0


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
        reward: ``"tiles"`` (CarRacing: +1000/N per new road tile, -0.1 per frame) or ``"progress"``
            (+1000 per lap of centerline progress, signed, -0.1 per frame).
        terminate_on_off_track: end the episode when all four wheels leave the road (DeepRacer's rule).
        off_track_penalty: reward added when an episode ends that way.
        max_episode_steps: agent steps before truncation (default: 60 s of sim time).
        start_waypoint: waypoint index to start from, or ``"random"``.
        reverse: drive the track the other way; ``"random"`` picks a direction per episode.
        track_weights: sampling weights of a pool.
        generated_every: a ``"generated"`` pool member makes a new procedural DeepRacer-like track
            (:func:`racingline.tracks.generator.generate_track`) every this many episodes that draw it.
        track_scale, track_width_scale: metres -> sim units, and the road-width factor (tutorial: 25, 0.5).
        lap_complete_percent: kept for CarRacing compatibility (lap completion uses centerline progress).
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
        reward: str = "tiles",
        terminate_on_off_track: bool = False,
        off_track_penalty: float = -100.0,
        max_episode_steps: int | None = None,
        start_waypoint: int | str = 0,
        reverse: bool | str = False,
        track_weights: Sequence[float] | None = None,
        generated_every: int = 1,
        track_scale: float = TRACK_SCALE,
        track_width_scale: float = TRACK_WIDTH_SCALE,
        lap_complete_percent: float = 0.95,
        domain_randomize: bool = False,
    ) -> None:
        if obs not in OBS_MODES:
            raise ValueError(f"obs: unknown observation mode {obs!r}; choose one of {', '.join(OBS_MODES)}")
        if renderer not in RENDERERS:
            raise ValueError(f"renderer: unknown renderer {renderer!r}; choose one of {', '.join(RENDERERS)}")
        if reward not in REWARDS:
            raise ValueError(f"reward: unknown reward {reward!r}; choose one of {', '.join(REWARDS)}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode: {render_mode!r} is not one of {self.metadata['render_modes']}")
        if int(frame_skip) < 1:
            raise ValueError(f"frame_skip: must be >= 1, got {frame_skip}")
        if int(size) < 8:
            raise ValueError(f"size: must be >= 8, got {size}")
        if not (isinstance(start_waypoint, int) or start_waypoint == "random"):
            raise ValueError(f"start_waypoint: expected an index or 'random', got {start_waypoint!r}")
        if not (isinstance(reverse, bool) or reverse == "random"):
            raise ValueError(f"reverse: expected true, false or 'random', got {reverse!r}")
        super().__init__(render_mode=render_mode, lap_complete_percent=lap_complete_percent,
                         domain_randomize=domain_randomize, continuous=continuous)
        self.obs_mode = obs
        self.renderer = renderer
        self.size = int(size)
        self.grayscale = bool(grayscale)
        self.frame_skip = int(frame_skip)
        self.reward_mode = reward
        self.terminate_on_off_track = bool(terminate_on_off_track)
        self.off_track_penalty = float(off_track_penalty)
        self.start_waypoint = start_waypoint
        self.reverse = reverse
        self.track_scale = float(track_scale)
        self.track_width_scale = float(track_width_scale)
        if max_episode_steps is None:
            max_episode_steps = int(math.ceil(DEFAULT_EPISODE_TIME_S * FPS / self.frame_skip))
        self.max_episode_steps = int(max_episode_steps)

        self._pool, self._pool_weights = self._build_pool(track, track_weights)
        self._sim_cache: dict[tuple[Track, bool], SimTrack] = {}
        self.generated_every = int(generated_every)
        self._generated: Track | None = None
        self._generated_uses = 0
        self._fast_renderer = None
        self.sim_track: SimTrack | None = None

        if obs == "features":
            self.observation_space = spaces.Box(FEATURE_LOW, FEATURE_HIGH, dtype=np.float32)
        else:
            channels = 1 if self.grayscale else 3
            self.observation_space = spaces.Box(0, 255, shape=(self.size, self.size, channels), dtype=np.uint8)

    # ------------------------------------------------------------------ tracks
    @staticmethod
    def _build_pool(track: Any, weights: Sequence[float] | None) -> tuple[list[Track | str | None], np.ndarray]:
        if track is None:
            members: list[Any] = [None]
        elif isinstance(track, (Track, str, os.PathLike)):
            members = [track]
        else:
            members = list(track)
            if not members:
                raise TrackError("track pool: is empty")
        pool: list[Track | str | None] = []
        for m in members:
            if m is None or (isinstance(m, str) and m == "random"):
                pool.append(None)
            elif isinstance(m, str) and m == "generated":
                pool.append("generated")
            else:
                pool.append(load_track(m))
        if weights is None:
            w = np.ones(len(pool))
        else:
            w = np.asarray(list(weights), dtype=np.float64)
            if w.shape != (len(pool),) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
                raise TrackError(f"track_weights: need {len(pool)} non-negative finite weights, got {list(weights)}")
        return pool, w / w.sum()

    @property
    def tracks(self) -> list[Track | str | None]:
        """The pool this env samples from (``None``: CarRacing's procedural track; ``"generated"``)."""
        return list(self._pool)

    def _sim_track_for(self, track: Track, reverse: bool) -> SimTrack:
        key = (track, reverse)  # Tracks hash by identity; holding the key keeps ids from being reused
        sim = self._sim_cache.get(key)
        if sim is None:
            drive = track.reversed() if reverse else track
            sim = build_sim_track(drive, track_scale=self.track_scale, track_width_scale=self.track_width_scale)
            if len(self._sim_cache) > 64:
                self._sim_cache.clear()
            self._sim_cache[key] = sim
        return sim

    def _next_generated_track(self) -> Track:
        if self._generated is None or self._generated_uses >= self.generated_every:
            from racingline.tracks.generator import generate_track

            seed = int(self.np_random.integers(2**31 - 1))
            old = self._generated
            self._generated = track_from_array(generate_track(seed), name=f"generated_{seed}")
            self._generated_uses = 0
            if old is not None:
                self._sim_cache.pop((old, False), None)
                self._sim_cache.pop((old, True), None)
        self._generated_uses += 1
        return self._generated

    def _procedural_track(self) -> SimTrack:
        """CarRacing's own random track generator, turned into a metre :class:`Track`."""
        self.road_poly = []
        # CarRacing's generator, without its Box2D tiles (we build our own road from the centerline).
        centerline = carracing_centerline(self.np_random)
        while centerline is None:
            centerline = carracing_centerline(self.np_random)
        self.start_alpha = START_ALPHA
        pts = np.array([(x, y) for _, _, x, y in centerline], dtype=np.float64)
        width_m = 2.0 * _cr.TRACK_WIDTH / (self.track_scale * self.track_width_scale)
        center_m = pts / self.track_scale
        tangent = np.roll(center_m, -1, axis=0) - np.roll(center_m, 1, axis=0)
        tangent /= np.hypot(tangent[:, 0], tangent[:, 1])[:, None]
        left = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
        wp = np.stack([center_m, center_m + left * width_m / 2, center_m - left * width_m / 2], axis=1)
        track = Track(name="carracing_random", waypoints=wp)
        return build_sim_track(track, track_scale=self.track_scale, track_width_scale=self.track_width_scale,
                               origin_m=np.zeros(2))

    def _build_road(self, sim: SimTrack) -> None:
        """CarRacing's road tiles (static bodies, one sensor quad each) for ``sim``, and ``road_poly``.

        The same bodies as ``world.CreateStaticBody(fixtures=fd_tile)`` then ``sensor = True``, made
        through pybox2d's direct calls, which skip its per-call keyword handling (4x faster).
        """
        self.road = road = []
        self.road_poly = road_poly = []
        body_def = Box2D.b2BodyDef()  # a static body at the origin, as CreateStaticBody makes
        shape = self.fd_tile.shape
        set_vertex = shape.set_vertex
        finish_shape = shape._b2PolygonShape__set_vertices_internal
        create_body = self.world._b2World__CreateBody
        fd = self.fd_tile
        shades = [self.road_color + 0.01 * k * 255 for k in range(3)]
        #: Each tile's colour before the car touches it (renderers that cache the road draw these).
        self.road_shades = [shades[i % 3] for i in range(len(sim.tile_polys))]
        for i, poly in enumerate(sim.tile_polys.tolist()):
            quad = [(x, y) for x, y in poly]
            for k, (x, y) in enumerate(quad):
                set_vertex(k, x, y)
            shape.vertexCount = 4
            finish_shape()
            t = create_body(body_def)
            fixture = t._b2Body__CreateFixture(fd)
            t.userData = t
            t.color = shades[i % 3].copy()
            t.road_visited = False
            t.road_friction = 1.0
            t.idx = i
            fixture.sensor = True
            road_poly.append((quad, t.color))
            road.append(t)
        for quad, white in sim.kerb_polys:
            self.road_poly.append(([(float(x), float(y)) for x, y in quad], (255, 255, 255) if white else (255, 0, 0)))
        self.track = [tuple(row) for row in sim.tiles]

    def _reset_road(self) -> None:
        """The road of the last episode, as :meth:`_build_road` left it: unvisited tiles, original shades."""
        for i, t in enumerate(self.road):
            t.road_visited = False
            t.color[:] = self.road_shades[i]
        self.road_poly = list(self.road_poly)  # a new list: renderers see a new episode

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode. ``options`` may hold ``track`` (pool index or Track), ``start_waypoint``, ``reverse``."""
        super(CarRacing, self).reset(seed=seed)
        options = dict(options or {})
        rng = self.np_random
        choice = options.get("track")
        if isinstance(choice, Track):
            track = choice
        elif choice is not None:
            track = self._pool[int(choice)]
        else:
            track = self._pool[int(rng.choice(len(self._pool), p=self._pool_weights))] if len(self._pool) > 1 else self._pool[0]
        reverse = options.get("reverse", self.reverse)
        reverse = bool(rng.integers(2)) if reverse == "random" else bool(reverse)
        if isinstance(track, str):  # "generated"
            track = self._next_generated_track()
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
            sim = self._procedural_track()
            reverse = False
        self.sim_track = sim
        self.track_reversed = reverse
        self.track_name = sim.track.name if track is None else track.name
        if reuse:
            self._reset_road()
        else:
            self._build_road(sim)

        start = options.get("start_waypoint", self.start_waypoint)
        n_wp = sim.track.n_waypoints
        if start == "random":
            start = int(rng.integers(n_wp))
        start = int(start) % n_wp
        self.start_index = start
        i0 = int(sim.waypoint_dense_index[start])
        x, y = sim.dense_xy[i0]
        tx, ty = sim.dense_tangent[i0]
        angle = math.atan2(ty, tx) - math.pi / 2  # CarRacing's car faces +y at angle 0
        self.car = self._car_class(self.world, angle, float(x), float(y))
        self.playfield = sim.extent + 120.0

        self._dense_n = len(sim.dense_xy)
        self._idx = i0
        self._start_idx = i0
        self._u = 0.0  # signed centerline advance since the start, sim units
        self._best_u = 0.0
        self._max_jump = 10.0 + 5.0 * self.frame_skip
        self.steps = 0
        self.lap_complete = False
        self.off_track_count = 0
        self._was_off = False
        self._last_info: dict[str, Any] = {}

        # Settle contacts (wheels on the start tiles) without an action, as CarRacing's reset does.
        self.car.step(1.0 / FPS)
        self.world.Step(1.0 / FPS, 6 * 30, 2 * 30)
        self.t = 0.0  # lap time counts from the first action
        self._frames = 0
        self._update_progress()
        self._look_offsets = np.round(LOOKAHEAD_M * sim.scale / sim.ds).astype(np.int64)
        info = self._info()
        if self.render_mode == "human":
            self.render()
        return self._observe(), info

    def step(self, action):
        """Advance ``frame_skip`` physics steps with ``action`` held; one observation, summed reward."""
        assert self.car is not None, "call reset() before step()"
        if self.continuous:
            a = np.asarray(action, dtype=np.float64)
            s, g, b = a.tolist() if a.shape == (3,) else (math.nan,) * 3
            if not (math.isfinite(s) and math.isfinite(g) and math.isfinite(b)):
                raise InvalidAction(f"you passed the invalid action `{action}`. The supported action_space is `{self.action_space}`")
            steer = -(-1.0 if s < -1.0 else (1.0 if s > 1.0 else s))
            gas = 0.0 if g < 0.0 else (1.0 if g > 1.0 else g)
            brake = 0.0 if b < 0.0 else (1.0 if b > 1.0 else b)
        else:
            if not (isinstance(action, (int, np.integer)) and not isinstance(action, bool) and 0 <= action < 5) \
                    and not self.action_space.contains(action):
                raise InvalidAction(f"you passed the invalid action `{action}`. The supported action_space is `{self.action_space}`")
            steer = -0.6 * (action == 1) + 0.6 * (action == 2)
            gas = 0.2 * (action == 3)
            brake = 0.8 * (action == 4)

        total = 0.0
        terminated = False
        off_track = False
        outside = False
        dt = 1.0 / FPS
        car = self.car
        for _ in range(self.frame_skip):
            u_before = self._u
            # Applied every physics step, as CarRacing under a frame-skip wrapper does (gas ramps per call).
            car.steer(steer)
            car.gas(gas)
            car.brake(brake)
            car.step(dt)
            self.world.Step(dt, 6 * 30, 2 * 30)
            self._frames += 1
            self.t = self._frames / FPS  # exact multiples of 1/FPS (no float drift in lap times)
            self.car.fuel_spent = 0.0
            self._update_progress()
            if self.reward_mode == "progress":
                r = 1000.0 * (self._u - u_before) / self.sim_track.length - 0.1
            else:
                self.reward -= 0.1
                r = self.reward - self.prev_reward
                self.prev_reward = self.reward
            off_track = not any(w.tiles for w in self.car.wheels)
            x, y = self.car.hull.position
            outside = abs(x) > self.playfield or abs(y) > self.playfield
            if outside:
                r = -100.0
                terminated = True
            elif off_track and self.terminate_on_off_track:
                r += self.off_track_penalty
                terminated = True
            if self.lap_complete:
                terminated = True
            total += r
            if terminated:
                break
        self.steps += 1
        if off_track and not self._was_off:
            self.off_track_count += 1
        self._was_off = off_track
        truncated = (not terminated) and self.steps >= self.max_episode_steps
        info = self._info(off_track=off_track)
        if outside:
            info["out_of_playfield"] = True
        if self.render_mode == "human":
            self.render()
        return self._observe(), float(total), terminated, truncated, info

    # ------------------------------------------------------------------ progress
    def _update_progress(self) -> None:
        sim = self.sim_track
        px, py = self.car.hull.position
        dx = sim.dense_x - px
        dy = sim.dense_y - py
        dx *= dx
        dy *= dy
        dx += dy
        idx = int(dx.argmin())
        n = self._dense_n
        delta_i = (idx - self._idx + n // 2) % n - n // 2
        delta = delta_i * sim.ds
        if abs(delta) <= self._max_jump:
            self._u += delta
            self._idx = idx
            if self._u > self._best_u:
                self._best_u = self._u
                if self._best_u >= sim.length - 0.5 * sim.ds:
                    self.lap_complete = True
        self._proj = idx

    @property
    def progress(self) -> float:
        """Percent (0-100) of the centerline covered in the track's direction since the start."""
        return float(min(100.0, 100.0 * self._best_u / self.sim_track.length))

    def _info(self, off_track: bool | None = None) -> dict[str, Any]:
        car = self.car
        sim = self.sim_track
        vx, vy = car.hull.linearVelocity
        speed = math.hypot(vx, vy)
        tx, ty = sim.dense_tangent[self._proj]
        if speed > _MOVING:
            along = vx * tx + vy * ty
        else:
            a = car.hull.angle
            along = -math.sin(a) * tx + math.cos(a) * ty
        if off_track is None:
            off_track = not any(w.tiles for w in car.wheels)
        px, py = car.hull.position
        ox, oy = sim.origin_m
        return {
            "progress": self.progress,
            "lap_complete": self.lap_complete,
            "lap_steps": self.steps,
            "lap_time_s": self.t,
            "off_track": bool(off_track),
            "off_track_count": self.off_track_count,
            "reversed": bool(along < 0),
            "position_m": (px / sim.scale + float(ox), py / sim.scale + float(oy)),
            "speed_mps": speed / sim.scale,
            "track": self.track_name,
            "track_reversed": self.track_reversed,
            "start_waypoint": self.start_index,
            "closest_waypoint": sim.closest_waypoint(self._proj),
        }

    # ------------------------------------------------------------------ observations
    def _observe(self) -> np.ndarray:
        if self.obs_mode == "features":
            return compute_features(self)
        if self.renderer == "fast":
            if self._fast_renderer is None:
                from racingline.sim.fast_render import FastRenderer

                self._fast_renderer = FastRenderer(size=self.size)
            return self._fast_renderer.render(self)
        frame = self._pygame_state()
        if self.grayscale:
            frame = (frame.astype(np.float32) @ GRAY_WEIGHTS).astype(np.uint8)[:, :, None]
        return frame

    def _pygame_state(self) -> np.ndarray:
        """CarRacing's own state drawing, scaled straight to ``size x size`` RGB."""
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
