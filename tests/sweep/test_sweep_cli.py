"""``racingline sweep`` end to end on a real local Ray with Optuna's TPE and ASHA: Ctrl-C stops it cleanly,
``--resume`` finishes it, every trial is a run folder, the best config trains, no Ray process is left."""

from __future__ import annotations

import csv
import signal
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from racingline.cli import app
from racingline.train.runs import load_run

pytest.importorskip("ray.tune", reason="Ray Tune is the optional sweep extra (pip install 'racingline[sweep]')")
pytest.importorskip("optuna", reason="Optuna is the optional sweep extra (pip install 'racingline[sweep]')")

#: A base config that trains in seconds: features, one env, 1536 steps, scored on kidney (held out).
BASE = {
    "name": "tiny", "seed": 0, "total_timesteps": 1536, "n_envs": 1, "vec_env": "dummy", "checkpoint_every": 0,
    "env": {"track": "rounded_rectangle", "obs": "features", "continuous": True, "reward": "progress",
            "terminate_on_off_track": True, "off_track_penalty": -10.0, "max_episode_steps": 300, "frame_stack": 1},
    "ppo": {"n_steps": 128, "batch_size": 64, "n_epochs": 2, "net_arch_pi": [32], "net_arch_vf": [32],
            "device": "cpu"},
    "eval": {"tracks": ["kidney"], "episodes": 1, "max_steps": 200},
}
SPACE = "ppo.learning_rate: loguniform(1e-4, 3e-3)\nppo.n_epochs: randint(1, 3)\nppo.net_arch_pi: choice([[32], [16, 16]])\n"


def _wait_for(predicate, proc, timeout_s: float = 240.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if predicate():
            return
        time.sleep(0.2)
    out, err = proc.communicate(timeout=60) if proc.poll() is None else proc.communicate()
    pytest.fail(f"condition not met (exit {proc.returncode})\n{out[-3000:]}\n{err[-3000:]}")


def _rows(sweep: Path) -> list[dict[str, str]]:
    with open(sweep / "results.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_sweep_stops_on_ctrl_c_resumes_and_its_best_config_trains(tmp_path, command):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "space.yaml").write_text(SPACE)
    sweep = tmp_path / "sw"

    # Ctrl-C while the first trials train: Tune saves its state, the trainers save their runs, Ray goes.
    proc = command.start("sweep", "--config", "base.yaml", "--space", "space.yaml", "--trials", "3", "--concurrent", "2",
                         "--out", "sw", "--seed", "0")
    _wait_for(lambda: any((sweep / "runs").glob("*/progress.csv")), proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, f"{out}\n{err}"
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: interrupted by SIGINT") and f"racingline sweep --resume {sweep}" in last, err
    assert "Traceback" not in err, err
    assert not command.left_behind()
    for run in (sweep / "runs").iterdir():  # each trainer saved what it trained, or removed a run not yet started
        assert (run / "model.zip").is_file() and (run / "vecnormalize.pkl").is_file(), sorted(run.iterdir())
    assert {r["status"] for r in _rows(sweep)} <= {"unfinished", "done", "stopped early"}

    # --resume finishes the three trials, the interrupted ones from their saved runs.
    done = command.run("sweep", "--resume", "sw")
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert not command.left_behind()
    rows = _rows(sweep)
    assert len(rows) == 3 and {r["status"] for r in rows} <= {"done", "stopped early"}, rows
    assert any(r["status"] == "done" for r in rows)  # the first trial at each ASHA rung always goes on
    for r in rows:
        run = Path(r["run_dir"])
        assert run.parent == sweep / "runs" and (run / "model.zip").is_file()
        loaded = load_run(run)  # a normal run folder: `racingline eval` reads it
        assert loaded.config.ppo.n_epochs == int(r["ppo.n_epochs"]) and loaded.model.num_timesteps > 0
        assert yaml.safe_load(r["ppo.net_arch_pi"]) == loaded.config.ppo.net_arch_pi
        if r["status"] == "done":
            assert (run / "eval.json").is_file() and int(r["timesteps"]) >= BASE["total_timesteps"]
            assert r["score"] and int(r["laps_attempted"]) == 1
    best = max((r for r in rows if r["score"]), key=lambda r: float(r["score"]))
    assert f"best: {best['name']}" in done.stdout and best["name"].removeprefix("trial_") in done.stdout
    assert (sweep / "objective.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (sweep / "sweep.yaml").is_file() and any((sweep / "tune").glob("experiment_state*.json"))

    # The best trial's resolved config is one `racingline train --config` accepts.
    best_cfg = yaml.safe_load((sweep / "best.yaml").read_text())
    assert best_cfg["ppo"]["learning_rate"] == pytest.approx(float(best["ppo.learning_rate"]), rel=1e-5)
    trained = CliRunner().invoke(app, ["train", "--config", str(sweep / "best.yaml"), "--timesteps", "512",
                                       "--run-dir", str(tmp_path / "best_run"), "--no-progress"])
    assert trained.exit_code == 0, trained.output
    assert load_run(tmp_path / "best_run").model.num_timesteps >= 512
