"""Training: run folders, the ``racingline train`` command, resume, Ctrl-C, loading runs (racingline.train.training)."""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from racingline.cli import app
from racingline.errors import ModelError, RunError
from racingline.train import training
from racingline.train.config import apply_overrides, load_config
from racingline.train.runs import create_run_dir, latest_run, load_run, resume_point, vecnormalize_path
from racingline.train.training import LinearSchedule

#: The fastest possible training: feature observations, one env, tiny rollouts.
# Tiny runs start from the tutorial's config (configs/seed.yaml), whose values these tests check.
TINY = ["--config", "seed", "--set", "env.obs=features", "--set", "env.track=rounded_rectangle", "--n-envs", "1",
        "--set", "ppo.n_steps=256", "--set", "ppo.batch_size=64", "--set", "ppo.n_epochs=1"]
runner = CliRunner()


def _rows(run: Path) -> list[dict[str, str]]:
    with open(run / "progress.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _one_line_error(result, *needles: str) -> None:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ")
    for needle in needles:
        assert needle in err, err


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A 1024-step run through the CLI, with checkpoints every 512 steps and the progress bar on."""
    runs = tmp_path_factory.mktemp("runs")
    result = runner.invoke(app, ["train", *TINY, "--timesteps", "1024", "--set", "checkpoint_every=512",
                                 "--seed", "3", "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    (run,) = runs.iterdir()
    assert f"run written to {run}" in result.stdout
    return run


# ---------------------------------------------------------------------------------------------- a run
def test_train_writes_the_run_layout(tiny_run):
    assert tiny_run.name.endswith("-seed")  # <timestamp>-<config name>
    names = {p.name for p in tiny_run.iterdir()}
    expected = {"model.zip", "vecnormalize.pkl", "config.yaml", "progress.csv", "checkpoints"}
    if training._tensorboard_available():
        expected.add("tensorboard")
    assert names == expected
    assert sorted(p.name for p in (tiny_run / "checkpoints").iterdir()) == [
        "step_000000512.zip", "step_000000512_vecnormalize.pkl",
        "step_000001024.zip", "step_000001024_vecnormalize.pkl"]
    cfg = load_config(tiny_run / "config.yaml")  # the fully resolved config, CLI options included
    assert (cfg.total_timesteps, cfg.n_envs, cfg.seed, cfg.checkpoint_every) == (1024, 1, 3, 512)
    assert (cfg.env.obs, cfg.env.track, cfg.ppo.n_steps, cfg.ppo.batch_size) == ("features", "rounded_rectangle", 256, 64)


def test_progress_csv_has_one_row_per_iteration(tiny_run):
    rows = _rows(tiny_run)
    assert list(rows[0]) == list(training.PROGRESS_COLUMNS)
    assert [int(r["timesteps"]) for r in rows] == [256, 512, 768, 1024]
    times = [float(r["time_s"]) for r in rows]
    assert times == sorted(times) and all(float(r["steps_per_s"]) > 0 for r in rows)
    # the linear schedule decays the learning rate to 0 at the end
    assert [float(r["learning_rate"]) for r in rows] == pytest.approx([7.5e-5, 5e-5, 2.5e-5, 0.0])
    assert all(r["value_loss"] != "" and r["entropy_loss"] != "" for r in rows)
    last = rows[-1]  # max_episode_steps 500: two episodes ended by step 1024
    assert int(last["episodes"]) == 2 and float(last["ep_len_mean"]) == 500
    assert 0 <= float(last["ep_progress_mean"]) <= 100 and float(last["lap_rate"]) == 0


def test_load_run_from_folder_model_and_checkpoint(tiny_run):
    model, cfg, run = load_run(tiny_run)
    assert run == tiny_run and model.num_timesteps == 1024 and cfg == load_config(tiny_run / "config.yaml")
    obs = np.zeros((1, *model.observation_space.shape), dtype=np.float32)
    action, _ = model.predict(obs, deterministic=True)
    assert action.shape == (1,)
    model2, _, run2 = load_run(tiny_run / "model.zip")
    assert run2 == tiny_run and model2.num_timesteps == 1024
    ckpt, _, run3 = load_run(tiny_run / "checkpoints" / "step_000000512.zip")
    assert run3 == tiny_run and ckpt.num_timesteps == 512
    assert vecnormalize_path(tiny_run / "checkpoints" / "step_000000512.zip").is_file()
    assert vecnormalize_path(tiny_run / "model.zip") == tiny_run / "vecnormalize.pkl"


def test_load_run_errors_are_one_line_naming_the_input(tmp_path, tiny_run):
    with pytest.raises(RunError, match="nowhere: no such run folder or model file"):
        load_run(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(tiny_run / "config.yaml", empty / "config.yaml")  # a run whose training has not saved a model
    with pytest.raises(RunError, match="empty: not a finished run folder"):
        load_run(empty)
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(tiny_run / "model.zip", lone / "model.zip")
    with pytest.raises(RunError, match="no config.yaml"):
        load_run(lone)
    shutil.copy(tiny_run / "config.yaml", lone / "config.yaml")
    (lone / "model.zip").write_bytes(b"not a zip at all")
    with pytest.raises(ModelError) as info:
        load_run(lone)
    assert str(lone / "model.zip") in str(info.value) and "\n" not in str(info.value)


def test_latest_run_is_the_newest_model(tmp_path):
    with pytest.raises(RunError, match="none: no such runs folder"):
        latest_run(tmp_path / "none")
    with pytest.raises(RunError, match="holds no run with a model.zip"):
        latest_run(tmp_path)
    for i, name in enumerate(["20240101-000000-b", "20250101-000000-a"]):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.zip").write_bytes(b"x")
        os.utime(tmp_path / name / "model.zip", (1000 + i, 1000 + i))
    (tmp_path / "29990101-000000-unfinished").mkdir()  # no model.zip: not a candidate
    assert latest_run(tmp_path) == tmp_path / "20250101-000000-a"
    os.utime(tmp_path / "20240101-000000-b" / "model.zip", (5000, 5000))
    assert latest_run(tmp_path) == tmp_path / "20240101-000000-b"


def test_linear_schedule():
    lr = LinearSchedule(1e-4)
    assert (lr(1.0), lr(0.5), lr(0.0)) == pytest.approx((1e-4, 5e-5, 0.0))


# ---------------------------------------------------------------------------------------------- run folders
def test_simultaneous_run_folders_never_collide(tmp_path):
    barrier = threading.Barrier(12)
    made: list[Path] = []

    def make() -> None:
        barrier.wait()
        made.append(create_run_dir("same", tmp_path))

    threads = [threading.Thread(target=make) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 12 and all(p.is_dir() and p.parent == tmp_path for p in made)
    assert all(re.fullmatch(r"\d{8}-\d{6}-same(-\d+)?", p.name) for p in made), made


def test_two_trainings_started_together_get_different_folders(tmp_path):
    cmd = [sys.executable, "-m", "racingline.cli", "train", *TINY, "--set", "ppo.n_steps=64",
           "--timesteps", "64", "--no-progress", "--runs-dir", str(tmp_path)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    runs = sorted(tmp_path.iterdir())
    assert len(runs) == 2 and all((r / "model.zip").is_file() and (r / "vecnormalize.pkl").is_file() for r in runs)
    assert {o[0].strip() for o in outs} == {f"run written to {r}" for r in runs}


def test_explicit_run_dir_must_not_hold_a_run(tiny_run, tmp_path):
    result = runner.invoke(app, ["train", *TINY, "--timesteps", "64", "--run-dir", str(tiny_run)])
    _one_line_error(result, str(tiny_run), "already holds a run")
    assert create_run_dir("x", run_dir=tmp_path / "new" / "run") == tmp_path / "new" / "run"


# ---------------------------------------------------------------------------------------------- resume
def test_resume_continues_the_step_count(tiny_run, tmp_path):
    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    assert resume_point(run) == (run / "model.zip", run / "vecnormalize.pkl", 1024)
    result = runner.invoke(app, ["train", "--resume", str(run), "--timesteps", "1536", "--no-progress"])
    assert result.exit_code == 0, result.output
    model, cfg, _ = load_run(run)
    assert model.num_timesteps == 1536 > 1024
    assert cfg.total_timesteps == 1536 and cfg.env.obs == "features" and cfg.seed == 3
    assert [int(r["timesteps"]) for r in _rows(run)] == [256, 512, 768, 1024, 1280, 1536]
    assert (run / "checkpoints" / "step_000001536.zip").is_file()
    # nothing left to do: an error naming the run, not a silent no-op
    again = runner.invoke(app, ["train", "--resume", str(run), "--no-progress"])
    _one_line_error(again, str(run), "already trained 1536 of 1536")


def test_resume_point_picks_the_newest_complete_save(tiny_run, tmp_path):
    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    (run / "model.zip").unlink()
    ckpts = run / "checkpoints"
    assert resume_point(run) == (ckpts / "step_000001024.zip", ckpts / "step_000001024_vecnormalize.pkl", 1024)
    (ckpts / "step_000001024_vecnormalize.pkl").unlink()  # a checkpoint without its statistics is skipped
    assert resume_point(run)[2] == 512
    for p in ckpts.iterdir():
        p.unlink()
    with pytest.raises(RunError, match="nothing to resume"):
        resume_point(run)


def test_resume_refuses_config_changes(tiny_run):
    result = runner.invoke(app, ["train", "--resume", str(tiny_run), "--set", "ppo.n_epochs=2", "--seed", "1"])
    _one_line_error(result, f"--resume {tiny_run}", "--set", "--seed")


# ---------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "args, needles",
    [
        (["--set", "ppo.bogus=1"], ["ppo.bogus"]),
        (["--set", "bogus=1"], ["bogus"]),
        (["--set", "ppo.n_steps=lots"], ["ppo.n_steps", "lots"]),
        (["--set", "env.obs=radar"], ["env.obs", "radar"]),
        (["--config", "no_such_config.yaml"], ["no_such_config.yaml"]),
        (["--resume", "no_such_run"], ["no_such_run: no such run folder"]),
        (["--track", "no_such_track"], ["no_such_track"]),
        (["--set", "ppo.policy=FancyPolicy"], ["ppo.policy", "FancyPolicy"]),
        (["--set", "checkpoint_every=-1"], ["checkpoint_every", "-1"]),
    ],
)
def test_bad_inputs_exit_non_zero_with_one_line(tmp_path, args, needles):
    result = runner.invoke(app, ["train", *args, "--runs-dir", str(tmp_path), "--no-progress"])
    _one_line_error(result, *needles)
    assert not any(tmp_path.iterdir())  # nothing was started, no run folder left behind


# ---------------------------------------------------------------------------------------------- Ctrl-C
def test_sigint_saves_the_model_and_exits_cleanly(tmp_path):
    """Ctrl-C in a terminal reaches the whole process group: trainer and subprocess env workers."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "racingline.cli", "train", *TINY, "--n-envs", "2", "--set", "vec_env=subproc",
           "--set", "ppo.n_steps=128", "--timesteps", "10000000", "--run-dir", str(run), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if (run / "progress.csv").is_file() and len((run / "progress.csv").read_text().splitlines()) >= 3:
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1 and f"saved in {run}" in err, err
    steps = resume_point(run)[2]
    assert steps >= 512
    assert (run / "model.zip").is_file() and (run / "vecnormalize.pkl").is_file()
    assert (run / "checkpoints" / f"step_{steps:09d}.zip").is_file()
    model, _, _ = load_run(run)
    assert model.num_timesteps == steps


# ---------------------------------------------------------------------------------------------- pixels
def test_tiny_pixel_training(tmp_path):
    cfg = apply_overrides(load_config("seed"), [
        "env.track=rounded_rectangle", "env.renderer=fast", "n_envs=1", "total_timesteps=128",
        "ppo.n_steps=64", "ppo.batch_size=32", "ppo.n_epochs=1", "ppo.net_arch_pi=[32]", "ppo.net_arch_vf=[32]"])
    run = training.train(cfg, runs_dir=tmp_path, progress=False)
    model, loaded, _ = load_run(run)
    # SB3 stores image spaces channel-first (VecTransposeImage); predict() transposes (64, 64, 4) itself
    assert model.observation_space.shape == (4, 64, 64) and model.num_timesteps == 128
    action, _ = model.predict(np.zeros((64, 64, 4), dtype=np.uint8))
    assert action.shape == ()
    assert loaded == cfg
