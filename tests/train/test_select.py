"""A run's own demonstrations (``demos``) and its choice of model (``select``, racingline.train.select)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from racingline.cli import app
from racingline.errors import ConfigError
from racingline.evaluate.rollouts import evaluate
from racingline.train.config import apply_overrides, load_config
from racingline.train.runs import RunFolder, load_run
from racingline.train.select import TEST_SEED, VALIDATION_SEED, SaveScore, held_out_tracks, rank, select_model, validation_tracks

from helpers import SCRATCH

runner = CliRunner()
TRACK = "kidney"
#: A small run of the default config: 3 controller laps cloned, one DAgger round, then 1,024 PPO steps.
SMALL = ["--track", TRACK, "--n-envs", "2", "--timesteps", "1024", "--set", "ppo.n_steps=256",
         "--set", "checkpoint_every=512", "--set", "env.max_episode_steps=200", "--set", "demos.episodes=3",
         "--set", "demos.tracks=[kidney]", "--set", "demos.dagger_rounds=1", "--set", "demos.dagger_episodes=1",
         "--set", "select.generated=1", "--set", "select.max_steps=120", "--no-progress"]


def _steps(model: Path) -> int:
    with zipfile.ZipFile(model) as zf:
        return int(json.loads(zf.read("data"))["num_timesteps"])


# ---------------------------------------------------------------------------------------------- ranking
def test_saves_rank_by_laps_then_speed_then_progress_then_steps():
    a = SaveScore("a", 100, lap_times_s=[10.0, None, 20.0], progress_pct=[100.0, 40.0, 100.0])
    b = SaveScore("b", 200, lap_times_s=[12.0, 30.0, None], progress_pct=[100.0, 100.0, 90.0])
    c = SaveScore("c", 300, lap_times_s=[11.0, 15.0, 25.0], progress_pct=[100.0, 100.0, 100.0])
    d = SaveScore("d", 400, lap_times_s=[None, None, None], progress_pct=[50.0, 10.0, 0.0])
    e = SaveScore("e", 500, lap_times_s=[None, None, None], progress_pct=[50.0, 10.0, 0.0])
    order = rank([a, b, c, d, e])
    assert [s.model for s in order] == ["c", "a", "b", "e", "d"]  # 3 laps; 2 faster; 2 slower; ties: later save
    assert (c.laps, a.laps, b.laps, d.laps) == (3, 2, 2, 0)
    assert a.speed == pytest.approx((1.0 + 1.0) / 2)  # fastest on both tracks it lapped
    assert b.speed == pytest.approx((10.0 / 12.0 + 15.0 / 30.0) / 2)
    assert c.speed == pytest.approx((10.0 / 11.0 + 1.0 + 20.0 / 25.0) / 3)
    assert d.progress == pytest.approx(0.2) and d.speed == 0.0


def test_validation_and_test_tracks_are_fixed_both_ways_and_never_trained_on():
    val, test = validation_tracks(2), held_out_tracks(1)
    assert [t.name.split("_w")[0] for t in val[::2]] == [f"generated_{VALIDATION_SEED}", f"generated_{VALIDATION_SEED + 1}"]
    assert [t.name for t in val[1::2]] == [t.name + "_reversed" for t in val[::2]]
    assert all(0.85 <= t.width_m <= 0.95 for t in val) and val[0].width_m != val[2].width_m
    assert test[0].name == f"generated_{TEST_SEED}" and test[0].width_m == pytest.approx(1.07)
    np.testing.assert_array_equal(validation_tracks(1)[0].waypoints, val[0].waypoints)
    np.testing.assert_array_equal(val[1].waypoints, val[0].reversed().waypoints)
    assert not np.array_equal(val[0].waypoints, test[0].waypoints)
    # Training draws a generated track's seed with rng.integers(2**31 - 1): every seed is below both sets'.
    from racingline.tracks.pools import TrackPool

    pool = TrackPool(["generated"], generated_every=1)
    rng = np.random.default_rng(0)
    seeds = [int(pool.draw(rng).track.name.removeprefix("generated_")) for _ in range(20)]
    assert max(seeds) < VALIDATION_SEED < TEST_SEED


# ---------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize("sets, needle", [
    ({"demos.driver": "model:runs/x"}, "demos.driver"),
    ({"demos.tracks": []}, "demos.tracks"),
    ({"demos.episodes": -1}, "demos.episodes"),
    ({"demos.dagger_episodes": 0}, "demos.dagger_episodes"),
    ({"select.generated": -2}, "select.generated"),
    ({"select.max_steps": 0}, "select.max_steps"),
    ({"demos.std_scale": 0}, "demos.std_scale"),
    ({"select.deterministic": "maybe"}, "select.deterministic"),
    ({"demos.epoch": 3}, "demos.epoch"),
])
def test_bad_demos_and_select_keys_name_the_key(sets, needle):
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        apply_overrides(load_config("default"), {"demos.episodes": 5, **sets})


def test_dagger_rounds_without_any_demonstrations_is_one_line(tmp_path):
    result = runner.invoke(app, ["train", "--track", TRACK, *SCRATCH, "--dagger-rounds", "2",
                                 "--runs-dir", str(tmp_path / "runs"), "--no-progress"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "demos.episodes" in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_run_whose_actions_the_controller_cannot_drive_trains_without_demonstrations(tmp_path):
    result = runner.invoke(app, ["train", "--track", TRACK, "--n-envs", "1", "--timesteps", "256",
                                 "--set", "ppo.n_steps=256", "--set", "env.continuous=false",
                                 "--run-dir", str(tmp_path / "run"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "training without the config's demonstrations" in result.stderr and "discrete" in result.stderr
    assert not (tmp_path / "run" / "demos").exists() and not (tmp_path / "run" / "pretrain.json").exists()
    assert json.loads((tmp_path / "run" / "selection.json").read_text())["kept"]["steps"] == 256


# ---------------------------------------------------------------------------------------------- a run
@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("select") / "run"
    result = runner.invoke(app, ["train", *SMALL, "--run-dir", str(run)])
    assert result.exit_code == 0, result.output
    return run


def test_a_run_records_and_clones_its_own_demonstrations(demo_run):
    from racingline.record.dataset import open_dataset

    ds = open_dataset(demo_run / "demos")
    assert ds.total_episodes == 3 and ds.meta["driver"] == "line:mincurv"
    assert all(ep.meta["track"].startswith(TRACK) for ep in ds.episodes())
    pre = json.loads((demo_run / "pretrain.json").read_text())
    assert pre["dataset"] == str((demo_run / "demos").absolute()) and pre["episodes"] == 3
    assert pre["epochs"] == load_config("default").demos.epochs and pre["dagger_rounds"] == 1
    assert len(pre["dagger"]) == 1 and pre["heldout_action_error"] < pre["heldout_action_error_before"]
    assert pre["action_weights"] is None  # demos.balance_actions is off


def test_the_kept_model_is_the_best_save_and_the_last_one_is_a_checkpoint(demo_run):
    sel = json.loads((demo_run / "selection.json").read_text())
    run = RunFolder(demo_run)
    assert sel["last_steps"] == 1024 and run.checkpoint(1024).is_file()
    assert [s["steps"] for s in sel["saves"]] and sel["kept"] == sel["saves"][0]
    kept = run.checkpoint(sel["kept"]["steps"])
    assert (demo_run / "model.zip").read_bytes() == kept.read_bytes()
    assert run.vecnormalize.read_bytes() == RunFolder.vecnormalize_for(kept).read_bytes()
    # The recorded laps and progress are what evaluating each save on the validation tracks gives: actions
    # sampled as in training, seeded with the run's seed.
    assert (sel["deterministic"], sel["seed"]) == (False, load_config("default").seed)
    tracks = validation_tracks(1)
    for save in sel["saves"]:
        report = evaluate(run.checkpoint(save["steps"]), tracks, max_steps=120, deterministic=False,
                          seed=sel["seed"])
        eps = [tr.episodes[0] for tr in report.tracks]
        assert save["progress_pct"] == [round(float(e.progress_pct), 2) for e in eps]
        assert save["laps"] == sum(e.lap_complete for e in eps)
    # --resume continues from the last model (a checkpoint), not from the kept one.
    assert run.resume_point()[2] == 1024


def test_select_clone_makes_the_cloned_policy_a_save_to_choose_from(tmp_path):
    """With select.clone the clone is checkpoint 0; demos.balance_actions's weights reach pretrain.json."""
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", *SMALL, "--set", "select.clone=true", "--set", "demos.balance_actions=true",
                                 "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    run = RunFolder(run_dir)
    assert [steps for steps, _ in run.saved_checkpoints()] == [0, 512, 1024]
    sel = json.loads((run_dir / "selection.json").read_text())
    assert sorted(s["steps"] for s in sel["saves"]) == [0, 512, 1024]
    # The step-0 checkpoint is the clone as pretraining left it: its Gaussian's spread is the one
    # pretrain.json records, and PPO's 1024 steps then changed the policy's weights.
    pre = json.loads((run_dir / "pretrain.json").read_text())
    clone, last = (load_run(run.checkpoint(steps)).model.policy for steps in (0, 1024))
    assert np.allclose(np.exp(clone.log_std.detach().numpy()), pre["action_std"], rtol=1e-5)
    assert len(pre["action_weights"]) == 3 and np.mean(pre["action_weights"]) == pytest.approx(1.0, rel=1e-4)
    assert not np.array_equal(clone.action_net.weight.detach().numpy(), last.action_net.weight.detach().numpy())
    assert (run_dir / "model.zip").read_bytes() == run.checkpoint(sel["kept"]["steps"]).read_bytes()


def test_select_clone_is_a_boolean():
    with pytest.raises(ConfigError, match="select.clone"):
        apply_overrides(load_config("default"), {"select.clone": 3})


def test_selection_prefers_a_driving_save_to_a_later_one_that_does_not(demo_run, tmp_path):
    """A fresh (untrained) policy saved as a later checkpoint barely moves; the cloned one drives on."""
    import shutil

    from racingline.train.training import build_model, build_vec_env

    run_dir = tmp_path / "run"
    shutil.copytree(demo_run, run_dir)
    cfg = load_run(run_dir).config
    venv = build_vec_env(apply_overrides(cfg, {"n_envs": 1, "vec_env": "dummy"}))
    try:
        fresh = build_model(apply_overrides(cfg, {"n_envs": 1, "vec_env": "dummy"}), venv)
        fresh.num_timesteps = 10**6
        RunFolder(run_dir).save_checkpoint(fresh, venv)
    finally:
        venv.close()
    sel = select_model(run_dir, 1, 120)
    scores = {s["steps"]: s for s in sel["saves"]}
    assert scores[10**6]["progress"] < scores[512]["progress"]
    assert sel["kept"]["steps"] != 10**6 and _steps(run_dir / "model.zip") == sel["kept"]["steps"]


def test_ctrl_c_while_choosing_keeps_the_last_model(tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    args = [a if a != "select.generated=1" else "select.generated=6" for a in SMALL]
    # Validation episodes as long as select.max_steps (training's 200-step episodes made choosing take under
    # a second: it could end before the signal came).
    args = [a if a != "select.max_steps=120" else "select.max_steps=1500" for a in args]
    args = [a if a != "env.max_episode_steps=200" else "env.max_episode_steps=1500" for a in args]
    args = [a for a in args if a != "--no-progress"]  # the progress lines say when choosing starts
    proc = subprocess.Popen([sys.executable, "-m", "racingline.cli", "train", *args, "--run-dir", "run"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        seen = ""
        while "choosing the model" not in seen and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen += line
        assert "choosing the model" in seen, seen  # printed once a signal can only stop the choosing
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "model and statistics saved" in err
    run = tmp_path / "run"
    assert _steps(run / "model.zip") == 1024 and not (run / "selection.json").exists()
    assert load_run(run).model is not None
