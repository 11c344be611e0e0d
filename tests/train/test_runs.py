"""The run folder: layout, creation, opening, resume point, atomic saves (racingline.train.runs.RunFolder)."""

from __future__ import annotations

import json
import os
import re
import time
import zipfile
from pathlib import Path

import pytest

from racingline.errors import ModelError, RunError
from racingline.train import runs
from racingline.train.config import Config, apply_overrides
from racingline.train.runs import RunFolder, load_run


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _sb3_zip(path: Path, timesteps: int) -> Path:
    """A stand-in for an SB3 model zip: only its ``data`` entry (which holds ``num_timesteps``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("data", json.dumps({"num_timesteps": timesteps}))
    return path


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"stats")
    return path


# ---------------------------------------------------------------------------------------------- layout
def test_layout_paths(tmp_path):
    run = RunFolder(tmp_path / "r")
    assert run.path == tmp_path / "r" and run.name == "r"
    assert run.model == tmp_path / "r" / "model.zip"
    assert run.vecnormalize == tmp_path / "r" / "vecnormalize.pkl"
    assert run.config == tmp_path / "r" / "config.yaml"
    assert run.progress == tmp_path / "r" / "progress.csv"
    assert run.checkpoints == tmp_path / "r" / "checkpoints"
    assert run.tensorboard == tmp_path / "r" / "tensorboard"
    assert run.checkpoint(512) == tmp_path / "r" / "checkpoints" / "step_000000512.zip"
    assert run.checkpoint(1_234_567_890).name == "step_1234567890.zip"
    assert run.vecnormalize_for(run.model) == run.vecnormalize
    assert run.vecnormalize_for(run.checkpoint(512)) == run.checkpoints / "step_000000512_vecnormalize.pkl"
    assert not run.path.exists()  # naming a folder creates nothing


def test_run_folder_is_path_like_and_compares_by_path(tmp_path):
    run = RunFolder(tmp_path / "r")
    assert os.fspath(run) == str(tmp_path / "r") == str(run)
    assert run == RunFolder(str(tmp_path / "r")) and run != RunFolder(tmp_path / "s")
    assert len({run, RunFolder(tmp_path / "r")}) == 1
    assert repr(run) == f"RunFolder({str(tmp_path / 'r')!r})"


def test_module_names_are_the_folder_s_names(tmp_path):
    assert (runs.MODEL_FILE, runs.VECNORMALIZE_FILE, runs.CONFIG_FILE, runs.PROGRESS_FILE, runs.CHECKPOINTS_DIR,
            runs.TENSORBOARD_DIR) == ("model.zip", "vecnormalize.pkl", "config.yaml", "progress.csv", "checkpoints",
                                      "tensorboard")
    assert runs.RUN_LAYOUT is RunFolder.LAYOUT
    assert runs.checkpoint_path(tmp_path, 7) == RunFolder(tmp_path).checkpoint(7)
    assert runs.vecnormalize_path(tmp_path / "model.zip") == tmp_path / "vecnormalize.pkl"


# ---------------------------------------------------------------------------------------------- creation
def test_create_names_the_folder_by_time_and_name(tmp_path):
    run = RunFolder.create("my run/1", tmp_path / "runs")
    assert run.path.parent == tmp_path / "runs" and run.path.is_dir()
    assert re.fullmatch(r"\d{8}-\d{6}-my_run_1", run.name), run.name
    assert _names(run.path) == ["checkpoints"] and run.checkpoints.is_dir()
    assert RunFolder.create("", tmp_path / "runs").name.endswith("-run")


def test_create_at_the_same_second_gives_distinct_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(time, "strftime", lambda fmt, *args: "20240102-030405")
    made = [RunFolder.create("same", tmp_path) for _ in range(3)]
    assert [r.name for r in made] == ["20240102-030405-same", "20240102-030405-same-2", "20240102-030405-same-3"]
    assert all(r.path.is_dir() for r in made)
    # a folder that appeared meanwhile (another training) is skipped, never shared
    (tmp_path / "20240102-030405-same-4").mkdir()
    assert RunFolder.create("same", tmp_path).name == "20240102-030405-same-5"
    assert runs.create_run_dir("same", tmp_path) == tmp_path / "20240102-030405-same-6"


def test_create_in_an_explicit_run_dir(tmp_path):
    nested = RunFolder.create("ignored", run_dir=tmp_path / "a" / "b")
    assert nested.path == tmp_path / "a" / "b" and nested.checkpoints.is_dir()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert RunFolder.create("x", run_dir=empty).path == empty  # an existing folder without a run is fine


@pytest.mark.parametrize("held", ["model.zip", "config.yaml"])
def test_create_refuses_a_run_dir_that_holds_a_run(tmp_path, held):
    (tmp_path / held).write_text("x")
    with pytest.raises(RunError, match=f"already holds a run \\({re.escape(held)}\\)"):
        RunFolder.create("x", run_dir=tmp_path)
    assert _names(tmp_path) == [held]  # nothing was added


def test_create_refuses_a_file_as_run_dir(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunError, match="exists and is not a folder"):
        RunFolder.create("x", run_dir=tmp_path / "file")


# ---------------------------------------------------------------------------------------------- opening
def test_open_by_path_or_by_name_under_runs_dir(tmp_path):
    run = RunFolder.create("x", run_dir=tmp_path / "runs" / "r1")
    run.save_config(Config())
    assert RunFolder.open(run.path) == run
    assert RunFolder.open("r1", tmp_path / "runs") == run
    assert runs.resolve_run("r1", tmp_path / "runs") == run.path
    with pytest.raises(RunError, match="nope: no such run folder"):
        RunFolder.open("nope", tmp_path / "runs")
    (tmp_path / "runs" / "bare").mkdir()
    with pytest.raises(RunError, match=r"bare: not a run folder \(no config.yaml\)"):
        RunFolder.open(tmp_path / "runs" / "bare")


def test_config_round_trip(tmp_path):
    run = RunFolder.create("x", run_dir=tmp_path / "r")
    cfg = apply_overrides(Config(), ["seed=7", "env.obs=features"])
    assert run.save_config(cfg) == run.config
    assert run.load_config() == cfg
    assert _names(run.path) == ["checkpoints", "config.yaml"]  # no temporary file left


# ---------------------------------------------------------------------------------------------- resume point
def test_resume_point_picks_the_newest_save_with_its_statistics(tmp_path):
    run = RunFolder.create("x", run_dir=tmp_path / "r")
    with pytest.raises(RunError, match="nothing to resume"):
        run.resume_point()
    for steps in (256, 512, 768):
        _sb3_zip(run.checkpoint(steps), steps)
    _touch(run.vecnormalize_for(run.checkpoint(256)))
    _touch(run.vecnormalize_for(run.checkpoint(512)))  # 768 has no statistics: not a candidate
    assert run.resume_point() == (run.checkpoint(512), run.checkpoints / "step_000000512_vecnormalize.pkl", 512)
    _sb3_zip(run.model, 600)
    assert run.resume_point() == (run.checkpoint(512), run.vecnormalize_for(run.checkpoint(512)), 512)  # no stats yet
    _touch(run.vecnormalize)
    assert run.resume_point() == (run.model, run.vecnormalize, 600)
    _sb3_zip(run.model, 512)  # a tie: the final model wins
    assert run.resume_point() == (run.model, run.vecnormalize, 512)
    _touch(run.vecnormalize_for(run.checkpoint(768)))
    assert run.resume_point()[2] == 768
    assert runs.resume_point(run.path) == run.resume_point()
    (run.checkpoints / "notes.zip").write_bytes(b"x")  # not a checkpoint name: ignored
    _touch(run.vecnormalize_for(run.checkpoints / "notes.zip"))
    assert run.resume_point()[2] == 768


def test_resume_point_rejects_an_unreadable_final_model(tmp_path):
    run = RunFolder.create("x", run_dir=tmp_path / "r")
    run.model.write_bytes(b"not a zip")
    _touch(run.vecnormalize)
    with pytest.raises(ModelError, match="model.zip: not a readable Stable-Baselines3 model"):
        run.resume_point()


# ---------------------------------------------------------------------------------------------- saving
class _Model:
    def __init__(self, data: bytes, fail: bool = False) -> None:
        self.data, self.fail, self.num_timesteps = data, fail, 42

    def save(self, path) -> None:
        Path(path).write_bytes(self.data[: len(self.data) // 2])
        if self.fail:
            raise RuntimeError("disk full")
        Path(path).write_bytes(self.data)


class _Stats:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def save(self, path: str) -> None:
        Path(path).write_bytes(b"half")
        if self.fail:
            raise KeyboardInterrupt
        Path(path).write_bytes(b"statistics")


def test_save_writes_model_and_statistics_atomically(tmp_path):
    run = RunFolder.create("x", run_dir=tmp_path / "r")
    assert run.save(_Model(b"model-1"), _Stats()) == run.model
    assert run.model.read_bytes() == b"model-1" and run.vecnormalize.read_bytes() == b"statistics"
    assert run.save_checkpoint(_Model(b"ckpt"), _Stats()) == run.checkpoint(42)
    assert _names(run.checkpoints) == ["step_000000042.zip", "step_000000042_vecnormalize.pkl"]
    # a failed write leaves the previous file whole and no temporary file behind
    with pytest.raises(RuntimeError, match="disk full"):
        run.save(_Model(b"model-2", fail=True), _Stats())
    assert run.model.read_bytes() == b"model-1"
    with pytest.raises(KeyboardInterrupt):
        run.save(_Model(b"model-3"), _Stats(fail=True))
    assert run.model.read_bytes() == b"model-3" and run.vecnormalize.read_bytes() == b"statistics"
    assert _names(run.path) == ["checkpoints", "model.zip", "vecnormalize.pkl"]
    assert _names(run.checkpoints) == ["step_000000042.zip", "step_000000042_vecnormalize.pkl"]


def test_save_a_real_model_then_load_and_resume_from_it(tiny_ppo, tmp_path):
    run = RunFolder.create("x", run_dir=tmp_path / "r")
    run.save_config(apply_overrides(Config(), ["env.obs=features", "env.continuous=true", "env.frame_stack=1"]))
    tiny_ppo.learn(64)
    run.save(tiny_ppo, tiny_ppo.get_vec_normalize_env())
    run.save_checkpoint(tiny_ppo, tiny_ppo.get_vec_normalize_env())
    assert not [p for p in run.path.rglob("*") if ".tmp-" in p.name]
    assert run.resume_point() == (run.model, run.vecnormalize, 64)
    loaded = load_run(run.path)
    assert loaded.folder == run and loaded.model.num_timesteps == 64 and loaded.stats_path == run.vecnormalize
    assert load_run(run.checkpoint(64)).stats_path == run.vecnormalize_for(run.checkpoint(64))
