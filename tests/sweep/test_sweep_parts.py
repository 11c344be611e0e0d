"""The parts of a sweep that need no Ray: settings saved and read back, a trial whose values break a rule
between keys, the reading of a growing progress.csv, and the results files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from racingline.sweep.folder import SweepFolder
from racingline.sweep.results import TrialRow, best_row, write_results
from racingline.sweep.space import space_from_dict
from racingline.sweep.trial import ProgressTail, TrialRunner, TrialSettings
from racingline.sweep.tune import SweepError, SweepSpec, read_spec
from racingline.train.config import apply_overrides, load_config


@pytest.fixture(scope="module")
def base():
    return apply_overrides(load_config("default"), {"env.track": "rounded_rectangle", "n_envs": 1, "ppo.n_steps": 128,
                                                    "ppo.batch_size": 64, "eval.tracks": ["kidney"]})


@pytest.fixture(scope="module")
def space(base):
    # batch_size 256 needs n_steps 256: the space is valid, the pair (256, 128) is not
    return space_from_dict({"ppo.batch_size": "choice([64, 256])", "ppo.n_steps": "choice([128, 256])",
                            "ppo.learning_rate": "loguniform(1e-5, 1e-3)"}, base)


def test_the_settings_file_reads_back(tmp_path, base, space):
    spec = SweepSpec(base=base, space=space, trials=5, objective="progress", concurrent=2, seed=7, early_stop=False)
    folder = SweepFolder(tmp_path / "sw")
    folder.path.mkdir()
    folder.settings.write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False))
    assert read_spec(folder) == spec
    assert (spec.budget, spec.cpus_per_trial) == (base.total_timesteps, 1)
    with pytest.raises(SweepError, match="not a sweep folder"):
        read_spec(SweepFolder(tmp_path))
    folder.settings.write_text("just: text\n")
    with pytest.raises(SweepError, match="not a racingline sweep settings file"):
        read_spec(folder)


def test_a_trial_whose_values_break_a_rule_is_invalid_without_training(tmp_path, base, space):
    settings = TrialSettings(base=base, space=space, objective="laps", sweep_dir=tmp_path, budget=1024,
                             report_every=128, eval_tracks=("kidney",))
    runner = TrialRunner(settings, "trial_x", {"ppo.batch_size": 256, "ppo.n_steps": 128, "ppo.learning_rate": 1e-4})
    runner.start()
    result = runner.next_result()
    assert result["done"] and result["status"] == "invalid" and result["score"] is None
    assert "ppo.batch_size" in result["message"] and "128 x 1 = 128" in result["message"]
    assert runner.proc is None and not (tmp_path / "runs").exists()  # nothing trained, nothing written
    runner.stop()  # nothing to stop


def test_progress_rows_are_read_as_they_are_completed(tmp_path):
    path = tmp_path / "progress.csv"
    path.write_text("timesteps,ep_progress_mean\n128,1.5\n")
    tail = ProgressTail(path)  # rows already there (a resumed run) are skipped, the last one kept
    assert tail.rows() == [] and tail.last == {"timesteps": "128", "ep_progress_mean": "1.5"}
    with open(path, "a") as fh:
        fh.write("256,2.5\n384,3")  # the last row is still being written
    assert tail.rows() == [{"timesteps": "256", "ep_progress_mean": "2.5"}]
    with open(path, "a") as fh:
        fh.write(".5\n")
    assert tail.rows() == [{"timesteps": "384", "ep_progress_mean": "3.5"}] and tail.rows() == []
    assert ProgressTail(tmp_path / "none.csv").rows() == []


def test_results_files_name_every_trial_and_the_best(tmp_path, base, space, features_run):
    folder = SweepFolder(tmp_path / "sw")
    figures = {"laps_completed": 1, "laps_attempted": 2, "median_lap_time_s": 30.0, "median_line_ratio": None,
               "mean_progress_pct": 80.0, "mean_reward": 5.0, "off_track_count": 0}
    rows = [TrialRow(1, "trial_a", "done", {"ppo.batch_size": 64, "ppo.n_steps": 128, "ppo.learning_rate": 1e-4},
                     1024, 50.0, figures, 1.7, run_dir=str(features_run)),
            TrialRow(2, "trial_b", "stopped early", {"ppo.batch_size": 256, "ppo.n_steps": 256,
                                                    "ppo.learning_rate": 3e-4}, 512, 20.0),
            TrialRow(3, "trial_c", "done", {"ppo.batch_size": 64, "ppo.n_steps": 256, "ppo.learning_rate": 1e-3},
                     1024, 40.0, figures, 1.7, run_dir=str(features_run))]
    best = write_results(folder, rows, space, "laps")
    assert best is rows[0] and best_row(rows) is rows[0]  # a tie goes to the earlier trial
    with open(folder.results_csv, newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [r["name"] for r in table] == ["trial_a", "trial_b", "trial_c"]
    assert table[1]["status"] == "stopped early" and table[1]["score"] == "" and table[0]["score"] == "1.7"
    assert list(table[0])[3:6] == ["ppo.batch_size", "ppo.n_steps", "ppo.learning_rate"]
    assert load_config(folder.best_config) == load_config(Path(features_run) / "config.yaml")
    assert folder.plot.read_bytes()[:4] == b"\x89PNG"
    assert not list(folder.path.glob(".*.tmp-*"))


def test_a_pid_file_of_a_process_that_is_not_the_trainer_is_dropped_not_signalled(tmp_path):
    import os
    import socket

    folder = SweepFolder(tmp_path / "sw")
    folder.trials.mkdir(parents=True)
    mine = folder.trial_pid("trial_a")
    mine.write_text(f"{socket.gethostname()} {os.getpid()}\n")  # a pid used again: this test, not a trainer
    other_host = folder.trial_pid("trial_b")
    other_host.write_text("another-machine 1\n")  # another node's trainer: not ours to judge
    assert folder.running_trainers() == []
    assert not mine.exists() and other_host.exists()
