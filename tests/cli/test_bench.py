"""racingline bench: side-by-side figures, ratios, JSON, and the configs its PPO measurement trains."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from racingline.bench import EPISODE_STEPS, bench_config, ppo_steps_per_s
from racingline.cli import app


def test_bench_env_rows_ratios_and_json(tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(app, ["bench", "--only", "stock", "--only", "features", "--no-ppo",
                                      "--env-seconds", "0.5", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    rows = {r["name"]: r for r in report["rows"]}
    assert set(rows) == {"stock", "features"}
    assert rows["stock"]["env_ratio"] == 1.0
    assert rows["features"]["env_steps_per_s"] > 0
    assert abs(rows["features"]["env_ratio"] - rows["features"]["env_steps_per_s"] / rows["stock"]["env_steps_per_s"]) < 1e-9
    assert report["settings"]["episode_steps"] == EPISODE_STEPS
    assert "(d) racingline features" in result.output


def test_bench_rejects_unknown_pipeline():
    result = CliRunner().invoke(app, ["bench", "--only", "warp-drive", "--no-ppo"])
    assert result.exit_code != 0
    assert "warp-drive" in result.output and "Traceback" not in result.output


def test_bench_configs_use_the_reference_track_and_episode_length():
    tutorial = bench_config("features", "tutorial")
    assert tutorial.env.track == "random"
    tutorial_ppo = (tutorial.env.obs, tutorial.env.frame_stack, tutorial.ppo.n_epochs, tutorial.ppo.batch_size)
    assert tutorial_ppo == ("features", 1, 10, 128)
    pixels = bench_config("pixels-fast", "racingline")
    assert (pixels.env.obs, pixels.env.renderer, pixels.ppo.pixel_pool, pixels.n_envs) == ("pixels", "fast", 4, 2)
    assert pixels.env.max_episode_steps == EPISODE_STEPS and pixels.checkpoint_every == 0


def test_ppo_throughput_trains_through_racingline_path():
    steps_per_s, update_share = ppo_steps_per_s("features", 0.2, settings="racingline")
    assert steps_per_s > 0 and 0.0 < update_share < 1.0
