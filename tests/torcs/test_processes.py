"""TORCS processes never outlive their env: close, garbage collection, and SIGKILL of the trainer."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from racingline.torcs.env import TorcsEnv
from racingline.torcs.process import FOLDER_PREFIX

from torcs_helpers import alive


def wait_dead(pids, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def env_pids(env: TorcsEnv) -> list[int]:
    return [p.proc.pid for p in env._procs if p.proc is not None]


def test_close_and_garbage_collection_end_torcs(torcs):
    env = TorcsEnv("road/g-track-1", frame_skip=5)
    env.reset(seed=0)
    pids = env_pids(env)
    folders = [p.folder for p in env._procs]
    assert len(pids) == 2 and all(alive(p) for p in pids)  # the race and the next one, prelaunched
    env.close()
    assert wait_dead(pids) and not any(f.exists() for f in folders)
    env = TorcsEnv("road/g-track-1", frame_skip=5)
    env.reset(seed=0)
    pids = env_pids(env)
    del env
    gc.collect()
    assert wait_dead(pids)


SCRIPT = """
import sys
from racingline.torcs.env import TorcsEnv
env = TorcsEnv("road/g-track-1", frame_skip=5)
env.reset(seed=0)
print(" ".join(str(p.proc.pid) for p in env._procs), flush=True)
sys.stdin.read()
"""


def test_sigkill_of_the_trainer_leaves_no_torcs(torcs):
    trainer = subprocess.Popen([sys.executable, "-c", SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, env=dict(os.environ))
    try:
        pids = [int(p) for p in trainer.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(p) for p in pids)
        folders = list(Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}{trainer.pid}-*"))
        assert len(folders) == 2
    finally:
        trainer.send_signal(signal.SIGKILL)
        trainer.wait()
    assert wait_dead(pids)
    env = TorcsEnv("road/g-track-1", frame_skip=5)  # the next env's first race removes the dead trainer's folders
    try:
        env.reset(seed=0)
        assert not any(f.exists() for f in folders)
    finally:
        env.close()
