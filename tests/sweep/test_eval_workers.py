"""``racingline eval --workers``: tracks spread over a real local Ray give the local table and JSON exactly."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from racingline.cli import app

pytest.importorskip("ray", reason="Ray is the optional sweep extra (pip install 'racingline[sweep]')")

TRACKS = ["--track", "rounded_rectangle", "--track", "kidney", "--track", "s_bend"]


def _table(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if not line.startswith("wrote ")]


def test_eval_on_two_ray_workers_gives_the_local_table_and_json(tmp_path, features_run, command, monkeypatch):
    monkeypatch.chdir(tmp_path)  # both commands find the tracks in the same folders
    args = ["eval", "--model", str(features_run), *TRACKS, "--max-steps", "150", "--no-line-gap"]
    local = CliRunner().invoke(app, [*args, "--json", str(tmp_path / "local.json")], env={"COLUMNS": "200"})
    assert local.exit_code == 0, local.output
    spread = command.run(*args, "--workers", "2", "--json", str(tmp_path / "ray.json"), timeout_s=240)
    assert spread.returncode == 0, f"{spread.stdout}\n{spread.stderr}"
    assert not command.left_behind()  # the local Ray started for the command ended with it
    local_report = json.loads((tmp_path / "local.json").read_text())
    assert [t["track"] for t in local_report["tracks"]] == ["rounded_rectangle", "kidney", "s_bend"]
    assert json.loads((tmp_path / "ray.json").read_text()) == local_report
    assert _table(spread.stdout) == _table(local.stdout)


def test_eval_workers_refuse_options_that_write_here(tmp_path, features_run, command):
    done = command.run("eval", "--model", str(features_run), "--track", "kidney", "--workers", "2", "--sim-trace",
                       str(tmp_path / "traces"), timeout_s=120)
    assert done.returncode == 1 and not (tmp_path / "traces" / "sim-trace").exists()
    assert done.stderr.strip().splitlines() == ["error: --sim-trace: writes files here, so it runs with a local "
                                                "evaluation only (drop --workers and --address)"]
