"""render_mode="human": TORCS's own window under a real X server (Xvfb), the race started with no one at the keys."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from racingline.torcs.drivers import ScriptedDriver
from racingline.torcs.env import TorcsEnv, obs_index
from racingline.torcs.install import TorcsError


def start_xvfb() -> tuple[subprocess.Popen, str]:
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        number = f.readline().strip()
    if not number:
        proc.kill()
        pytest.fail("Xvfb did not start")
    return proc, f":{number}"


def test_human_rendering_needs_a_display(torcs, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    env = TorcsEnv("road/g-track-1", render_mode="human")
    try:
        with pytest.raises(TorcsError, match="needs a display"):
            env.reset(seed=0)
    finally:
        env.close()


@pytest.mark.skipif(shutil.which("Xvfb") is None,
                    reason="needs Xvfb (Debian: apt-get install xvfb)")
def test_the_gui_race_starts_with_no_one_at_the_keys(torcs, monkeypatch):
    xvfb, display = start_xvfb()
    monkeypatch.setenv("DISPLAY", display)
    env = TorcsEnv("road/g-track-1", frame_skip=5, render_mode="human", max_episode_steps=30)
    try:
        obs, info = env.reset(seed=0)  # through TORCS's menus: Race, the race, New Race
        cmdline = open(f"/proc/{env._proc.proc.pid}/cmdline", "rb").read().split(b"\0")
        assert b"-r" not in cmdline  # the GUI, not a results-only race
        driver = ScriptedDriver()
        for _ in range(30):  # 3 s of the race, in real time
            obs, _, terminated, truncated, info = env.step(driver(obs))
        assert truncated and not terminated
        assert obs[obs_index("speedX")][0] * 300 > 20.0  # km/h: the car drives
    finally:
        env.close()
        xvfb.terminate()
        xvfb.wait()
