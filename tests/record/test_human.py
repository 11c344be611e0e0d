"""Human driving: the keyboard's ramped controls, the drive loop and its recording (SDL's dummy video driver,
scripted key events through pygame's event queue), bad input, and a real window under Xvfb."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pygame
import pytest
from typer.testing import CliRunner

from racingline.cli import app
from racingline.record import human
from racingline.record.dataset import open_dataset
from racingline.record.human import ControlRates, DisplayError, KeyboardControls, check_display
from racingline.sim.wrappers import make_env

TRACK = "rounded_rectangle"
DT_S = 2 / 50  # one agent step of the default config: frame skip 2 at 50 FPS
#: The default config (features, continuous actions) from waypoint 0, in the track's own direction.
SETS = ("env.start_waypoint=0", "env.reverse=false")
KEYDOWN, KEYUP = pygame.KEYDOWN, pygame.KEYUP


@pytest.fixture()
def window():
    """A pygame window on SDL's dummy video driver (conftest sets it), closed afterwards."""
    assert os.environ.get("SDL_VIDEODRIVER") == "dummy"
    screen = human.open_window("test")
    pygame.event.clear()  # the window's own events (shown, focus gained)
    yield screen
    human.close_window()


class Script:
    """An event source: before frame ``i`` it posts ``script[i]`` (``(type, key)`` pairs) into pygame's
    event queue, then returns what the queue holds."""

    def __init__(self, script: dict[int, list[tuple[int, int]]]) -> None:
        self.script = script
        self.frame = 0

    def __call__(self) -> list:
        for kind, key in self.script.get(self.frame, []):
            pygame.event.post(pygame.event.Event(kind, key=key))
        self.frame += 1
        return pygame.event.get()


def replay(script: dict[int, list[tuple[int, int]]], frames: range) -> list[np.ndarray]:
    """The actions a fresh :class:`KeyboardControls` gives at ``frames`` when fed ``script``'s events."""
    controls = KeyboardControls()
    out = []
    for i in range(max(frames) + 1):
        for kind, key in script.get(i, []):
            controls.handle(pygame.event.Event(kind, key=key))
        if i in frames:
            out.append(controls.action(DT_S))
    return out


# ---------------------------------------------------------------------------------------------- controls
def _feed(controls: KeyboardControls, *events: tuple[int, int]) -> list:
    for kind, key in events:
        pygame.event.post(pygame.event.Event(kind, key=key))
    return [controls.handle(e) for e in pygame.event.get()]


def test_steering_ramps_to_full_lock_and_back(window):
    rates = ControlRates()
    c = KeyboardControls(rates)
    _feed(c, (KEYDOWN, pygame.K_LEFT))
    steer = [float(c.action(DT_S)[0]) for _ in range(10)]
    expected = [-min(1.0, rates.steer_per_s * DT_S * (k + 1)) for k in range(10)]
    assert steer == pytest.approx(expected, abs=1e-6) and steer[-1] == -1.0
    _feed(c, (KEYUP, pygame.K_LEFT))
    back = [float(c.action(DT_S)[0]) for _ in range(6)]
    assert back == pytest.approx([min(0.0, -1.0 + rates.steer_return_per_s * DT_S * (k + 1)) for k in range(6)],
                                 abs=1e-6) and back[-1] == 0.0
    # right (D) from full left: back to centre at the return rate first, then out at the steering rate
    c.steer = -1.0
    _feed(c, (KEYDOWN, pygame.K_d))
    ramp = [float(c.action(DT_S)[0]) for _ in range(12)]
    assert ramp[0] == pytest.approx(-1.0 + rates.steer_return_per_s * DT_S)
    assert all(b > a for a, b in zip(ramp, ramp[1:]) if a < 1.0) and ramp[-1] == 1.0


def test_throttle_builds_up_brake_caps_and_releases_cut(window):
    rates = ControlRates()
    c = KeyboardControls(rates)
    _feed(c, (KEYDOWN, pygame.K_w), (KEYDOWN, pygame.K_DOWN))
    actions = np.array([c.action(DT_S) for _ in range(15)])
    assert actions.dtype == np.float32 and actions.shape == (15, 3)
    assert actions[:, 1] == pytest.approx([min(1.0, rates.gas_per_s * DT_S * (k + 1)) for k in range(15)], abs=1e-6)
    assert actions[:, 2] == pytest.approx([min(0.8, rates.brake_per_s * DT_S * (k + 1)) for k in range(15)], abs=1e-6)
    assert np.all(actions[:, 0] == 0.0)
    _feed(c, (KEYUP, pygame.K_w), (KEYUP, pygame.K_DOWN))
    assert c.action(DT_S).tolist() == [0.0, 0.0, 0.0]


def test_keys_arrows_wasd_commands_and_focus(window):
    c = KeyboardControls()
    assert _feed(c, (KEYDOWN, pygame.K_a), (KEYDOWN, pygame.K_RIGHT)) == [None, None]
    assert c.held == {"left", "right"}
    assert c.action(DT_S)[0] == 0.0  # both sides held: straight on
    _feed(c, (KEYDOWN, pygame.K_LEFT), (KEYUP, pygame.K_a))
    assert c.held == {"left", "right"}  # still held by the arrow
    _feed(c, (KEYDOWN, pygame.K_s), (KEYDOWN, pygame.K_UP))
    assert c.held == {"left", "right", "brake", "gas"}
    pygame.event.post(pygame.event.Event(pygame.WINDOWFOCUSLOST))
    c.handle(pygame.event.get()[0])
    assert c.held == set()
    assert _feed(c, (KEYDOWN, pygame.K_r), (KEYDOWN, pygame.K_ESCAPE)) == ["restart", "quit"]
    pygame.event.post(pygame.event.Event(pygame.QUIT))
    assert c.handle(pygame.event.get()[0]) == "quit"


def test_the_left_key_turns_the_car_left():
    """The env's action[0] = -1 is left (DeepRacerEnv._controls negates it for CarRacing's car.steer):
    holding LEFT turns the heading counter-clockwise (to the left) and moves the car to its left."""
    turned = {}
    for name, key in (("none", None), ("left", pygame.K_LEFT), ("right", pygame.K_RIGHT)):
        env = make_env(TRACK, obs="features", continuous=True, frame_skip=2, start_waypoint=0)
        env.reset(seed=0)
        c = KeyboardControls()
        c.keys_down.add(pygame.K_UP)
        for _ in range(20):
            env.step(c.action(DT_S))
        before = env.unwrapped.state
        if key is not None:
            c.keys_down.add(key)
        for _ in range(8):
            env.step(c.action(DT_S))
        after = env.unwrapped.state
        left_of_car = np.array([-math.cos(before.angle), -math.sin(before.angle)])  # the car faces (-sin, cos)
        sideways = float(np.dot(np.array([after.x - before.x, after.y - before.y]), left_of_car))
        turned[name] = (after.angle - before.angle, sideways, after.yaw_rate)
        env.close()
    assert turned["left"][0] > 0.5 and turned["left"][1] > 0.1 and turned["left"][2] > 0
    assert turned["right"][0] < -0.5 and turned["right"][1] < -0.1 and turned["right"][2] < 0
    assert abs(turned["none"][0]) < 0.05 and abs(turned["none"][1]) < 0.05


# ---------------------------------------------------------------------------------------------- drive loop
def test_scripted_drive_records_the_keys_pressed(window, tmp_path):
    """Throttle, a flick of left, R (the episode so far is written), then Escape (written too)."""
    import minari

    out = tmp_path / "human"
    script = {0: [(KEYDOWN, pygame.K_UP)], 12: [(KEYDOWN, pygame.K_LEFT)], 14: [(KEYUP, pygame.K_LEFT)],
              25: [(KEYDOWN, pygame.K_r)], 40: [(KEYDOWN, pygame.K_ESCAPE)]}
    cfg = human.human_config("default", SETS, [TRACK])
    env = human.make_human_env(cfg, record=out)
    result = human.drive_human(env, screen=window, events=Script(script), pace=False, seed=3)
    env.close()
    assert (result.episodes, result.steps, result.frames, result.written, result.dataset_episodes) == (2, 39, 40, 2, 2)

    ds = open_dataset(out)
    assert ds.total_episodes == 2 and ds.total_steps == 39 and ds.meta["driver"] == "human"
    assert ds.meta["obs"] == "features" and ds.observation_space.shape == env.observation_space.shape
    first, second = ds.episodes()
    assert first.meta["driver"] == "human" and first.meta["end"] == "restart" and first.meta["seed"] == 3
    assert second.meta["end"] == "quit" and first.meta["track"] == TRACK and first.meta["start_waypoint"] == 0
    assert first.truncations[-1] and second.truncations[-1] and not first.terminations.any()
    # frames 0-24 step the first episode; R at frame 25 resets; frames 26-39 step the second
    np.testing.assert_allclose(first.actions, replay(script, range(0, 25)), atol=1e-7)
    assert first.actions[11:16, 0].tolist() == pytest.approx([0.0, -0.16, -0.32, -0.08, 0.0])
    assert second.actions.shape == (14, 3) and second.actions[0].tolist() == pytest.approx([0.0, 0.08, 0.0])
    assert first.infos["heading_deg"][20] > first.infos["heading_deg"][12]  # left turned the car left
    assert first.observations.shape == (26, *env.observation_space.shape)

    loaded = minari.MinariDataset(out / "data")
    assert loaded.total_episodes == 2
    episode = next(iter(loaded.iterate_episodes()))
    np.testing.assert_array_equal(episode.actions, first.actions)


def test_an_ended_episode_waits_for_restart(window, tmp_path):
    """The episode ends (time up) and is written; frames pass without steps until R; an episode quit
    before its first step is not written."""
    out = tmp_path / "human"
    cfg = human.human_config("default", (*SETS, "env.max_episode_steps=10"), [TRACK])
    env = human.make_human_env(cfg, record=out)
    script = {0: [(KEYDOWN, pygame.K_UP)], 20: [(KEYDOWN, pygame.K_r)], 21: [(KEYDOWN, pygame.K_ESCAPE)]}
    result = human.drive_human(env, screen=window, events=Script(script), pace=False, seed=0)
    env.close()
    assert (result.episodes, result.steps, result.frames, result.written) == (2, 10, 21, 1)
    (episode,) = open_dataset(out).episodes()
    assert episode.meta["end"] == "truncated" and len(episode.actions) == 10


def test_escape_at_once_writes_nothing(window, tmp_path):
    out = tmp_path / "human"
    env = human.make_human_env(human.human_config("default", SETS, [TRACK]), record=out)
    result = human.drive_human(env, screen=window, events=Script({0: [(KEYDOWN, pygame.K_ESCAPE)]}), pace=False)
    env.close()
    assert (result.steps, result.written) == (0, 0) and not out.exists()


@pytest.mark.parametrize("size", [human.WINDOW_SIZE, (600, 480)])
def test_drive_without_recording_shows_frames(window, size):
    """The window shows CarRacing's full frame (its own drawing at the window's size, else the rgb_array
    frame scaled) with the road grey around the car, and the head-up display's white text."""
    screen = window if size == human.WINDOW_SIZE else pygame.Surface(size)
    env = human.make_human_env(human.human_config("default", SETS, [TRACK]))
    script = {0: [(KEYDOWN, pygame.K_UP)], 60: [(pygame.QUIT, 0)]}
    result = human.drive_human(env, screen=screen, events=Script(script), pace=False)
    env.close()
    assert (result.steps, result.written, result.dataset_episodes) == (60, 0, None)
    pixels = pygame.surfarray.array3d(screen)  # (width, height, 3)
    grey = (np.abs(pixels.astype(int) - 103).max(axis=2) <= 5).mean()
    grass = (pixels[..., 1].astype(int) - pixels[..., 0] > 60).mean()
    assert pixels.shape == (*size, 3) and grey > 0.05 and grass > 0.05, (grey, grass)
    assert (pixels[:300, :70].min(axis=2) > 230).sum() > 100  # the lap time, progress and off-track line


# ---------------------------------------------------------------------------------------------- bad input
def test_check_display():
    with pytest.raises(DisplayError, match="--human needs a display"):
        check_display({}, "linux")
    check_display({"DISPLAY": ":0"}, "linux")
    check_display({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    check_display({"SDL_VIDEODRIVER": "dummy"}, "linux")
    check_display({}, "darwin")


def _cli(*args: str):
    return CliRunner().invoke(app, ["drive", *args])


def _one_error(result, code: int, fragment: str) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == code, result.output
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_cli_bad_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _one_error(_cli("--track", TRACK), 2, "give --human")
    _one_error(_cli("--human", "--record-append"), 2, "--record-append: needs --record")
    _one_error(_cli("--human", "--track", "no_such_track"), 1, "no_such_track")
    _one_error(_cli("--human", "--track", TRACK, "--set", "env.continuous=false"), 1, "continuous actions")
    (tmp_path / "taken" / "data").mkdir(parents=True)
    (tmp_path / "taken" / "data" / "metadata.json").write_text("{}")
    _one_error(_cli("--human", "--track", TRACK, "--record", "taken"), 1, "a dataset is already there")
    (tmp_path / "file").write_text("x")
    _one_error(_cli("--human", "--track", TRACK, "--record", "file/ds"), 1, "is a file, not a folder")
    monkeypatch.delenv("SDL_VIDEODRIVER")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if sys.platform.startswith("linux"):
        _one_error(_cli("--human", "--track", TRACK, "--record", "new"), 1, "error: --human needs a display (")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "taken"]


# ---------------------------------------------------------------------------------------------- Xvfb
def read_xwd(data: bytes) -> np.ndarray:
    """An ``xwd`` dump (ZPixmap, 24/32 bits per pixel, TrueColor) as an RGB array ``(height, width, 3)``."""
    header = np.frombuffer(data[:100], dtype=">u4")
    size, fmt, width, height = int(header[0]), int(header[2]), int(header[4]), int(header[5])
    byte_order, bpp, line = int(header[7]), int(header[11]), int(header[12])
    masks = [int(m) for m in header[14:17]]
    ncolors = int(header[19])
    assert fmt == 2 and bpp == 32, f"unsupported xwd: format {fmt}, {bpp} bits per pixel"
    start = size + 12 * ncolors
    words = np.frombuffer(data[start:start + line * height], dtype="<u4" if byte_order == 0 else ">u4")
    words = words.reshape(height, line // 4)[:, :width]
    channels = [(words & m) >> (m & -m).bit_length() - 1 for m in masks]
    return np.stack(channels, axis=-1).astype(np.uint8)


def _start_xvfb() -> tuple[subprocess.Popen, str]:
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1000x800x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        number = f.readline().strip()
    if not number:
        proc.kill()
        pytest.fail("Xvfb did not start")
    return proc, f":{number}"


@pytest.mark.skipif(shutil.which("Xvfb") is None or shutil.which("xwd") is None,
                    reason="needs Xvfb and xwd (Debian: apt-get install xvfb x11-apps)")
def test_the_window_under_xvfb_draws_the_road(tmp_path):
    """`racingline drive --human` under a real X server: a screenshot of the screen shows the road, the grass
    and the head-up display; Ctrl-C ends it like Esc, keeping the episode driven so far."""
    xvfb, display = _start_xvfb()
    env = {**os.environ, "DISPLAY": display, "SDL_AUDIODRIVER": "dummy", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("SDL_VIDEODRIVER", None)
    env.pop("WAYLAND_DISPLAY", None)
    drive = None
    try:
        drive = subprocess.Popen([sys.executable, "-m", "racingline.cli", "drive", "--human", "--track", TRACK,
                                  "--set", SETS[0], "--set", SETS[1], "--record", "ds"], cwd=tmp_path, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        road, image, failed = 0.0, None, b""
        for _ in range(120):  # until the opening zoom has settled (1 s of driving) and the road fills the view
            time.sleep(0.25)
            assert drive.poll() is None, drive.communicate()
            shot = subprocess.run(["xwd", "-root", "-silent", "-display", display], capture_output=True)
            if shot.returncode != 0:  # seen once on a loaded machine while the window was being mapped: retry
                failed = shot.stderr
                continue
            image = read_xwd(shot.stdout)
            grey = np.abs(image.astype(int) - 103).max(axis=2) <= 5
            road = grey.mean()
            if road > 0.10:
                break
        assert image is not None, f"xwd never took a screenshot: {failed.decode(errors='replace')}"
        assert image.shape == (800, 1000, 3)
        assert road > 0.10, f"road grey covers {road:.1%} of the screen"
        grass = (image[..., 1].astype(int) - image[..., 0] > 60).mean()  # CarRacing's green grass/background
        assert grass > 0.05, f"grass covers {grass:.1%}"
        assert (image[:70, :400].min(axis=2) > 230).sum() > 100  # the head-up display's white text
        drive.send_signal(signal.SIGINT)
        stdout, stderr = drive.communicate(timeout=30)
    finally:
        if drive is not None and drive.poll() is None:
            drive.kill()
            drive.wait()
        xvfb.terminate()
        xvfb.wait(timeout=10)
    assert drive.returncode == 130, stderr
    assert "interrupted by SIGINT: drove 1 episodes" in stderr and "Traceback" not in stderr
    meta = json.loads((tmp_path / "ds" / "data" / "0" / "metadata.json").read_text())
    assert meta["driver"] == "human" and meta["end"] == "quit" and meta["steps"] > 0
    assert open_dataset(tmp_path / "ds").total_episodes == 1
