"""Human driving in a real window: a screenshot under Xvfb, and the frame rate the drive loop keeps.

    python benchmarks/human_window.py [--track rounded_rectangle] [--seconds 10] [--png human_window.png]

Needs Xvfb and xwd (Debian: ``apt-get install xvfb x11-apps``). Starts an X server, opens the driving window
(:func:`racingline.record.human.open_window`) on it and drives the default config's env (from waypoint 0,
not ended by leaving the road) with throttle and left held by scripted key events (it circles):

- unpaced: frames per second the loop can draw (step, full CarRacing frame, scale to the window, HUD);
  divided by the real-time rate (50 FPS / frame skip 2 = 25 agent steps/s) it is the headroom;
- paced (as ``racingline drive --human`` runs): frames per second kept over ``--seconds``; target 25.

A screenshot of the X screen (``xwd -root``) taken 2 s into the paced drive is written to ``--png``;
the share of the screen in CarRacing's road grey and grass green is printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def read_xwd(data: bytes) -> np.ndarray:
    """An ``xwd`` dump (ZPixmap, 32 bits per pixel, TrueColor) as an RGB array ``(height, width, 3)``."""
    header = np.frombuffer(data[:100], dtype=">u4")
    size, fmt, width, height = int(header[0]), int(header[2]), int(header[4]), int(header[5])
    byte_order, bpp, line = int(header[7]), int(header[11]), int(header[12])
    masks = [int(m) for m in header[14:17]]
    if fmt != 2 or bpp != 32:
        raise SystemExit(f"unsupported xwd: format {fmt}, {bpp} bits per pixel")
    start = size + 12 * int(header[19])
    words = np.frombuffer(data[start:start + line * height], dtype="<u4" if byte_order == 0 else ">u4")
    words = words.reshape(height, line // 4)[:, :width]
    return np.stack([(words & m) >> (m & -m).bit_length() - 1 for m in masks], axis=-1).astype(np.uint8)


def start_xvfb() -> tuple[subprocess.Popen, str]:
    """An Xvfb server on a free display (1000x800, 24 bits); the process and its ``DISPLAY``."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1000x800x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        number = f.readline().strip()
    if not number:
        proc.kill()
        raise SystemExit("Xvfb did not start")
    return proc, f":{number}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--track", default="rounded_rectangle")
    parser.add_argument("--seconds", type=float, default=10.0, help="Length of the paced drive.")
    parser.add_argument("--unpaced-frames", type=int, default=250)
    parser.add_argument("--png", type=Path, default=Path("human_window.png"))
    args = parser.parse_args()
    for tool in ("Xvfb", "xwd"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not on PATH (Debian: apt-get install xvfb x11-apps)")
    xvfb, display = start_xvfb()
    os.environ["DISPLAY"] = display
    os.environ.pop("SDL_VIDEODRIVER", None)
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        run(args, display)
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)


def run(args: argparse.Namespace, display: str) -> None:
    import pygame
    from PIL import Image

    from racingline.record import human

    sets = ("env.start_waypoint=0", "env.reverse=false", "env.terminate_on_off_track=false",
            "env.max_episode_steps=100000")
    cfg = human.human_config("default", sets, [args.track])
    screen = human.open_window(f"racingline: {args.track}")
    shots: list[np.ndarray] = []

    def script(frames: int, shot_at: int | None = None):
        count = [0]

        def events():
            i = count[0]
            count[0] += 1
            if i == 0:  # throttle and left: the car circles, staying in the playfield
                pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_UP))
                pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_LEFT))
            if i == shot_at:
                out = subprocess.run(["xwd", "-root", "-silent", "-display", display], capture_output=True, check=True)
                shots.append(read_xwd(out.stdout))
            if i >= frames:
                pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE))
            return pygame.event.get()

        return events

    rows = {}
    for name, pace, frames in (("unpaced", False, args.unpaced_frames),
                               ("paced", True, int(round(args.seconds * 25)))):
        env = human.make_human_env(cfg)
        t0 = time.perf_counter()
        result = human.drive_human(env, screen=screen, events=script(frames, 50 if pace else None), pace=pace, seed=0)
        seconds = time.perf_counter() - t0
        env.close()
        rows[name] = result.frames / seconds
        print(f"{name:8s}: {result.frames} frames ({result.steps} agent steps) in {seconds:.2f} s = "
              f"{rows[name]:.1f} frames/s", flush=True)
    human.close_window()
    print(f"real time: 25 frames/s; headroom {rows['unpaced'] / 25:.1f}x; paced loop keeps "
          f"{rows['paced'] / 25:.1%} of real time")
    image = shots[0]
    road = (np.abs(image.astype(int) - 103).max(axis=2) <= 5).mean()
    grass = (image[..., 1].astype(int) - image[..., 0] > 60).mean()
    Image.fromarray(image).save(args.png)
    print(f"screenshot {args.png}: {image.shape[1]}x{image.shape[0]}, road grey {road:.1%}, grass {grass:.1%}")


if __name__ == "__main__":
    sys.exit(main())
