"""SIGINT, SIGTERM and SIGKILL against real training processes: what is saved, exit codes, no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from racingline.signals import Interrupted, StopSignals, blocked
from racingline.train import training
from racingline.train.config import apply_overrides, load_config
from racingline.train.runs import load_run, resume_point

TINY = ["--config", "seed", "--set", "env.obs=features", "--set", "env.track=rounded_rectangle",
        "--set", "ppo.n_steps=128", "--set", "ppo.batch_size=64", "--set", "ppo.n_epochs=1",
        "--n-envs", "2", "--set", "vec_env=subproc", "--timesteps", "10000000", "--no-progress"]


def _children(pid: int) -> list[int]:
    """Live (non-zombie) processes whose parent is ``pid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _start(run: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "racingline.cli", "train", *TINY, "--run-dir", str(run)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            stdin=subprocess.DEVNULL)


def _wait_for_rows(proc: subprocess.Popen, run: Path, rows: int = 3, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        progress = run / "progress.csv"
        if progress.is_file() and len(progress.read_text().splitlines()) >= rows:
            return
        time.sleep(0.1)
    raise AssertionError(f"training never reached {rows} rows: {proc.poll()} {proc.stderr.read() if proc.poll() else ''}")


def _finish(proc: subprocess.Popen) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_training_saves_and_exits(tmp_path, sig, code):
    run = tmp_path / "run"
    proc = _start(run)
    _wait_for_rows(proc, run)
    workers = _children(proc.pid)
    assert len(workers) == 2  # vec_env=subproc: both envs in worker processes
    proc.send_signal(sig)  # the trainer only (SIGTERM from a process manager; Ctrl-C test below)
    out, err = _finish(proc)
    assert proc.returncode == code, err
    assert "Traceback" not in out + err
    assert len(err.strip().splitlines()) == 1 and f"saved in {run}" in err and signal.Signals(sig).name in err
    steps = resume_point(run)[2]
    assert (run / "model.zip").is_file() and (run / "checkpoints" / f"step_{steps:09d}.zip").is_file()
    assert load_run(run).model.num_timesteps == steps > 0
    assert not [p for p in workers if _alive(p)]  # closed with the trainer


def test_ctrl_c_early_removes_the_run_folder_or_saves(tmp_path):
    """Ctrl-C 0.5 s after the start (the terminal signals the whole group: trainer and any workers)."""
    run = tmp_path / "run"
    proc = _start(run)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = _finish(proc)
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err and len(err.strip().splitlines()) == 1, err
    assert not run.exists()  # stopped before any step: nothing written, or the empty folder removed


def test_a_signal_while_workers_start_removes_the_new_run(tmp_path, monkeypatch):
    """A real SIGTERM raised while the vector env is being built (deterministically, from inside it)."""
    real = training.build_vec_env

    def build_then_signal(*args, **kwargs):
        venv = real(*args, **kwargs)
        signal.raise_signal(signal.SIGTERM)
        return venv

    monkeypatch.setattr(training, "build_vec_env", build_then_signal)
    cfg = apply_overrides(load_config("seed"), ["env.obs=features", "env.track=rounded_rectangle", "n_envs=2",
                                                "vec_env=subproc", "total_timesteps=512", "ppo.n_steps=128"])
    with pytest.raises(training.TrainingInterrupted) as info:
        training.train(cfg, run_dir=tmp_path / "run", progress=False)
    assert info.value.removed and info.value.signum == signal.SIGTERM and info.value.timesteps == 0
    assert not (tmp_path / "run").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


def test_sigkill_of_the_trainer_leaves_no_worker(tmp_path):
    run = tmp_path / "run"
    proc = _start(run)
    _wait_for_rows(proc, run, rows=2)
    workers = _children(proc.pid)
    assert workers
    proc.kill()
    _finish(proc)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.1)
    assert not [p for p in workers if _alive(p)], "workers outlived the killed trainer"


def test_resume_removes_temporary_files_of_a_killed_write(tmp_path):
    cfg = apply_overrides(load_config("seed"), ["env.obs=features", "env.track=rounded_rectangle", "n_envs=1",
                                                "total_timesteps=128", "ppo.n_steps=64", "ppo.batch_size=32",
                                                "ppo.n_epochs=1", "checkpoint_every=64"])
    run = training.train(cfg, run_dir=tmp_path / "run", progress=False)
    stray = [run / ".model.zip.tmp-dead.zip", run / "checkpoints" / ".step_000000064.zip.tmp-x1.zip"]
    for p in stray:
        p.write_bytes(b"half a zip")
    training.train(resume=run, total_timesteps=192, progress=False)
    assert not [p for p in stray if p.exists()]
    assert load_run(run).model.num_timesteps == 192


def test_blocked_signals_are_delivered_afterwards():
    with StopSignals() as signals:
        with blocked():
            signal.raise_signal(signal.SIGTERM)
            assert not signals.stop.is_set()  # pending while blocked
        assert signals.stop.is_set() and signals.signum == signal.SIGTERM
        with pytest.raises(Interrupted):
            signal.raise_signal(signal.SIGINT)
