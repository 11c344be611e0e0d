"""Human driving: keyboard controls ramped into CarRacing's continuous actions, a pygame window, the drive loop.

``racingline drive --human`` opens a window showing CarRacing's full frames (as its human mode draws them,
with a head-up display of lap time, progress and off-track count) and steps the config's env at the
simulator's pace: ``FPS / frame_skip`` agent steps per second, each step ``frame_skip`` physics frames of
1/50 s. The env is the config's own (observations, actions, rewards, episode rules), so a recording fits
behaviour cloning with that config.

Keys (:data:`KEY_BINDINGS`): arrows or WASD steer, throttle and brake; R restarts; Escape (or closing the
window) quits. A keyboard is on/off, so :class:`KeyboardControls` ramps each control at a fixed rate per
second of simulated time (:class:`ControlRates`): steering moves toward full lock while a key is held and
back to centre when released; throttle builds up; brake builds up to 0.8 (CarRacing's keyboard brake: 1.0
locks the wheels); releasing throttle or brake cuts it at once.

Recording (the env wrapped in :class:`~racingline.record.wrapper.RecordEpisodes`): an episode that ends
(lap, off track, time up) is written as it ends and the window waits for R or Escape; an episode cut short
by R or Escape (or Ctrl-C) is written as it stands, marked truncated, with ``end`` ``"restart"`` or
``"quit"``. An episode with no step is not written.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pygame

from racingline.errors import ConfigError, RacinglineError
from racingline.record.wrapper import RecordEpisodes, RecordSpec

__all__ = ["ControlRates", "DisplayError", "DriveResult", "KeyboardControls", "KEY_BINDINGS", "check_display",
           "close_window", "drive_human", "human_config", "make_human_env", "open_window", "WINDOW_SIZE"]

#: The window: CarRacing's human-mode window (width, height in pixels).
WINDOW_SIZE: tuple[int, int] = (1000, 800)
#: Video drivers that need no display (SDL draws into memory).
_HEADLESS_DRIVERS = ("dummy", "offscreen")


class DisplayError(RacinglineError, RuntimeError):
    """No display to open the driving window on."""


#: pygame key code -> the control it holds: arrows or WASD (key codes, i.e. the letters as the layout types them).
KEY_BINDINGS: Mapping[int, str] = {
    pygame.K_LEFT: "left", pygame.K_a: "left", pygame.K_RIGHT: "right", pygame.K_d: "right",
    pygame.K_UP: "gas", pygame.K_w: "gas", pygame.K_DOWN: "brake", pygame.K_s: "brake",
}


@dataclass(frozen=True)
class ControlRates:
    """How fast the keyboard's on/off keys move the continuous controls, per second of simulated time."""

    steer_per_s: float = 4.0  # centre to full lock in 0.25 s
    steer_return_per_s: float = 6.0  # full lock back to centre in 0.17 s
    gas_per_s: float = 2.0  # full throttle in 0.5 s
    brake_per_s: float = 5.0  # full (0.8) brake in 0.16 s
    brake_max: float = 0.8  # CarRacing's keyboard brake (1.0 locks the wheels)


def _approach(value: float, target: float, up: float, down: float) -> float:
    """``value`` moved toward ``target`` by at most ``up`` when moving away from zero, ``down`` toward it."""
    rate = down if (target * value < 0.0 or abs(target) < abs(value)) else up
    return value + min(max(target - value, -rate), rate)


class KeyboardControls:
    """Held keys -> CarRacing's continuous ``[steer, gas, brake]``, ramped (see the module docstring).

    Feed every pygame event to :meth:`handle`; call :meth:`action` once per agent step. Steering follows
    the env's convention: ``-1`` is full left, ``+1`` full right. A control is held while any of its keys is.
    """

    def __init__(self, rates: ControlRates | None = None, bindings: Mapping[int, str] | None = None) -> None:
        self.rates = rates or ControlRates()
        self.bindings = dict(KEY_BINDINGS if bindings is None else bindings)
        self.keys_down: set[int] = set()
        self.steer = 0.0
        self.gas = 0.0
        self.brake = 0.0

    @property
    def held(self) -> set[str]:
        """The controls held now (``left``, ``right``, ``gas``, ``brake``)."""
        return {self.bindings[k] for k in self.keys_down}

    def handle(self, event: Any) -> str | None:
        """Update the held keys from ``event``; ``"quit"`` (Escape, window closed), ``"restart"`` (R) or ``None``."""
        if event.type == pygame.QUIT:
            return "quit"
        if event.type == pygame.KEYDOWN:
            if event.key == pygame.K_ESCAPE:
                return "quit"
            if event.key == pygame.K_r:
                return "restart"
            if event.key in self.bindings:
                self.keys_down.add(event.key)
        elif event.type == pygame.KEYUP:
            self.keys_down.discard(event.key)
        elif event.type == pygame.WINDOWFOCUSLOST:
            self.keys_down.clear()  # the key-up events go to another window
        return None

    def action(self, dt_s: float) -> np.ndarray:
        """Advance the ramps by ``dt_s`` seconds of simulated time; the action, float32 ``(3,)``."""
        r = self.rates
        held = self.held
        target = (1.0 if "right" in held else 0.0) - (1.0 if "left" in held else 0.0)  # both: straight on
        self.steer = _approach(self.steer, target, r.steer_per_s * dt_s, r.steer_return_per_s * dt_s)
        self.gas = min(1.0, self.gas + r.gas_per_s * dt_s) if "gas" in held else 0.0
        self.brake = min(r.brake_max, self.brake + r.brake_per_s * dt_s) if "brake" in held else 0.0
        return np.array([self.steer, self.gas, self.brake], dtype=np.float32)

    def reset(self) -> None:
        """Controls back to rest (keys still held keep acting from the next step)."""
        self.steer = self.gas = self.brake = 0.0


# ---------------------------------------------------------------------------------------------- display
def check_display(environ: Mapping[str, str] | None = None, platform: str | None = None) -> None:
    """Raise :class:`DisplayError` when no window can be shown: on X11/Wayland systems, no ``DISPLAY`` nor
    ``WAYLAND_DISPLAY`` and no ``SDL_VIDEODRIVER`` chosen (``dummy`` or ``offscreen`` draw into memory)."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if platform.startswith(("win", "darwin", "cygwin")) or environ.get("SDL_VIDEODRIVER"):
        return
    if not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")):
        raise DisplayError("--human needs a display (neither DISPLAY nor WAYLAND_DISPLAY is set: run it in a "
                           "desktop session, or set SDL_VIDEODRIVER=dummy for a window nobody sees)")


def open_window(title: str = "racingline", size: tuple[int, int] = WINDOW_SIZE) -> Any:
    """Open the driving window (a pygame display surface); :class:`DisplayError` when it cannot be."""
    try:
        pygame.display.init()
        pygame.font.init()
        screen = pygame.display.set_mode(size)
    except pygame.error as exc:
        driver = os.environ.get("SDL_VIDEODRIVER") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        raise DisplayError(f"--human needs a display (pygame could not open a window on {driver or 'the default'}: "
                           f"{exc})") from None
    pygame.display.set_caption(title)
    return screen


def close_window() -> None:
    """Close the driving window (and pygame)."""
    pygame.quit()


# ---------------------------------------------------------------------------------------------- env
def human_config(config: str | os.PathLike | Any = "default", sets: Sequence[str] = (),
                 tracks: Sequence[str] | None = None) -> Any:
    """The config driven: a config name/path (or :class:`~racingline.train.config.Config`), ``--set``
    overrides, then ``tracks`` replacing the pool. :class:`ConfigError` unless its actions are CarRacing's
    continuous ``[steer, gas, brake]`` (a keyboard cannot pick a DeepRacer or discrete action sensibly)."""
    from racingline.train.config import apply_overrides, load_config, parse_override

    cfg = config if not isinstance(config, (str, os.PathLike)) else load_config(config)
    overrides = dict(parse_override(text) for text in sets)
    if tracks:
        overrides["env.track"] = list(tracks) if len(tracks) > 1 else tracks[0]
        overrides.setdefault("env.track_weights", None)
    if overrides:
        cfg = apply_overrides(cfg, overrides)
    env = cfg.env
    if env.action_space is not None or not env.continuous:
        what = f"the DeepRacer action space {env.action_space}" if env.action_space else "discrete actions"
        raise ConfigError(f"--human: human driving needs CarRacing's continuous actions, but the config uses {what} "
                          "(set env.continuous=true and env.action_space=null)")
    return cfg


def make_human_env(cfg: Any, *, record: str | os.PathLike | None = None, append: bool = False) -> gym.Env:
    """The config's env on its tracks, drawing full frames (``render_mode="rgb_array"``); with ``record``,
    wrapped in :class:`RecordEpisodes` writing into that dataset (opened now, so a bad path fails first).

    Raises :class:`racingline.TrackError` for unusable tracks, :class:`~racingline.record.dataset.DatasetError`
    or :class:`~racingline.io.OutputError` for a dataset that cannot be written.
    """
    from racingline.sim.wrappers import make_env
    from racingline.train.config import env_kwargs

    kw = env_kwargs(cfg.env)  # resolves and validates the tracks
    env = make_env(**kw, render_mode="rgb_array")
    if record is None:
        return env
    meta = {"driver": "human", "obs": cfg.env.obs, "config": dataclasses.asdict(cfg.env) | {"track": None},
            "frame_stack": cfg.env.frame_stack, "config_name": cfg.name}
    wrapped = RecordEpisodes(env, RecordSpec(Path(record), meta=meta, append=append, episode_meta={"driver": "human"}))
    try:
        wrapped.open()
    except BaseException:
        env.close()
        raise
    return wrapped


# ---------------------------------------------------------------------------------------------- loop
@dataclass
class DriveResult:
    """What a drive did: episodes started, laps completed (and the best lap), agent steps, frames drawn,
    episodes written into the dataset and the episodes it holds now (``None`` without recording)."""

    episodes: int = 0
    laps: int = 0
    best_lap_s: float | None = None
    steps: int = 0
    frames: int = 0
    written: int = 0
    dataset_episodes: int | None = None


def _end_text(state: Any) -> str:
    if state.lap_complete:
        return f"Lap complete: {state.time_s:.2f} s"
    if state.off_track_end:
        return f"Off track at {state.progress:.1f}%"
    if state.out_of_playfield:
        return f"Out of the playfield at {state.progress:.1f}%"
    return f"Time up at {state.progress:.1f}% ({state.time_s:.1f} s)"


class _Hud:
    """Draws the env's full frame in the window, and the head-up display over it."""

    def __init__(self, screen: Any) -> None:
        self.screen = screen
        pygame.font.init()
        self.font = pygame.font.Font(None, 30)
        self.big = pygame.font.Font(None, 56)

    def _text(self, text: str, font: Any, pos: tuple[int, int], center: bool = False) -> None:
        surf = font.render(text, True, (255, 255, 255))
        box = surf.get_rect(center=pos) if center else surf.get_rect(topleft=pos)
        shade = pygame.Surface(box.inflate(12, 8).size, pygame.SRCALPHA)
        shade.fill((0, 0, 0, 160))
        self.screen.blit(shade, box.inflate(12, 8))
        self.screen.blit(surf, box)

    def picture(self, env: gym.Env, frame: np.ndarray) -> Any:
        """The window's picture of ``frame`` (just drawn by ``env.render()``): CarRacing's own full-size
        drawing (``surf``, what its human mode shows) when it fits the window, else ``frame`` scaled up."""
        surf = getattr(env.unwrapped, "surf", None)
        if isinstance(surf, pygame.Surface) and surf.get_size() == self.screen.get_size():
            return surf  # a new Surface each render: safe to keep
        frame = np.ascontiguousarray(frame, dtype=np.uint8)  # (height, width, 3) rows of RGB
        small = pygame.image.frombuffer(frame, (frame.shape[1], frame.shape[0]), "RGB")
        return pygame.transform.smoothscale(small, self.screen.get_size())

    def draw(self, picture: Any, state: Any, *, recording: str | None, ended: bool) -> None:
        self.screen.blit(picture, (0, 0))
        self._text(f"lap {state.time_s:6.2f} s   progress {state.progress:5.1f}%   off track {state.off_track_count}"
                   f"   {state.speed_mps:4.1f} m/s", self.font, (14, 12))
        where = f"{state.track_name}{' reversed' if state.track_reversed else ''}"
        self._text(f"{where}   {recording or 'not recording'}   R restart  Esc quit", self.font, (14, 44))
        if ended:
            w, h = self.screen.get_size()
            self._text(_end_text(state), self.big, (w // 2, h // 2 - 30), center=True)
            self._text("R: drive again    Esc: quit", self.font, (w // 2, h // 2 + 20), center=True)


def drive_human(env: gym.Env, *, screen: Any = None, events: Callable[[], Iterable[Any]] | None = None,
                controls: KeyboardControls | None = None, pace: bool = True, seed: int | None = None,
                stop: threading.Event | None = None) -> DriveResult:
    """Drive ``env`` (from :func:`make_human_env`) with the keyboard until Escape, a closed window or ``stop``.

    Each frame handles the pending ``events`` (default ``pygame.event.get``), steps the env once with
    :meth:`KeyboardControls.action` (unless the episode has ended and the window waits for R or Escape),
    draws the env's full frame and the head-up display on ``screen`` (default: the open window) and, with
    ``pace``, waits to keep ``FPS / frame_skip`` agent steps per second of wall time (real time). The
    first episode is reset with ``seed``. Recording: see the module docstring.
    """
    from racingline.sim.env import FPS

    base = env.unwrapped
    recorder = env if isinstance(env, RecordEpisodes) else None
    controls = controls or KeyboardControls()
    events = events or pygame.event.get
    screen = screen if screen is not None else pygame.display.get_surface()
    if screen is None:
        raise DisplayError("--human: no window is open (call open_window first)")
    hud = _Hud(screen)
    dt_s = base.frame_skip / FPS
    clock = pygame.time.Clock()
    result = DriveResult()

    def label() -> str | None:
        if recorder is None:
            return None
        return f"REC {recorder.record_spec.path} ({recorder.episodes_recorded} written)"

    def cut(end: str) -> None:
        if recorder is not None:
            recorder.finish(end=end)  # written, marked truncated (nothing when it had no step)

    env.reset(seed=seed)
    controls.reset()
    result.episodes = 1
    picture = hud.picture(env, env.render())
    driving = True
    while True:
        command = None
        for event in events():
            command = controls.handle(event) or command
            if command == "quit":
                break
        if stop is not None and stop.is_set():
            command = "quit"
        if command == "quit":
            if driving:
                cut("quit")
            break
        if command == "restart":
            if driving:
                cut("restart")
            env.reset()
            controls.reset()
            result.episodes += 1
            picture = hud.picture(env, env.render())
            driving = True
        elif driving:
            _, _, terminated, truncated, _ = env.step(controls.action(dt_s))
            result.steps += 1
            picture = hud.picture(env, env.render())
            if terminated or truncated:
                driving = False
                state = base.state
                if state.lap_complete:
                    result.laps += 1
                    result.best_lap_s = min(state.time_s, result.best_lap_s or math.inf)
        hud.draw(picture, base.state, recording=label(), ended=not driving)
        pygame.display.flip()
        result.frames += 1
        if pace:
            clock.tick(FPS / base.frame_skip)
    if recorder is not None:
        result.written = recorder.episodes_recorded
        result.dataset_episodes = recorder.writer.total_episodes if recorder.writer is not None else None
    return result
