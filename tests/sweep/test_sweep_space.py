"""Search spaces (``space.yaml``) checked against the base config, and the sweep objective; no Ray needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from racingline.errors import ConfigError
from racingline.sweep.objective import score
from racingline.sweep.space import load_space, parse_distribution, space_from_dict
from racingline.train.config import apply_overrides, load_config


@pytest.fixture(scope="module")
def base():
    """The default config on one project track, with a rollout of 128 steps x 1 env."""
    return apply_overrides(load_config("default"), {"env.track": "rounded_rectangle", "n_envs": 1,
                                                    "ppo.n_steps": 128, "ppo.batch_size": 64})


def test_each_form_is_read_with_its_bounds():
    d = parse_distribution("loguniform(1e-5, 1e-3)")  # YAML 1.1 reads 1e-5 as a string: taken as a number
    assert (d.kind, d.args) == ("loguniform", (1e-5, 1e-3))
    assert parse_distribution(" uniform( 0, 0.5 ) ").args == (0.0, 0.5)
    assert parse_distribution("quniform(0.1, 0.3, 0.05)").candidates() == pytest.approx([0.1, 0.3])
    assert parse_distribution("quniform(64, 500, 64)").candidates() == [64.0, 448.0]  # the last step inside
    r = parse_distribution("randint(2, 5)")
    assert (r.args, r.candidates(), r.decode(3.0)) == ((2, 5), [2, 5], 3)
    c = parse_distribution("choice([[64], [64, 64]])")
    assert c.args == ([64], [64, 64]) and c.encoded
    assert [c.decode(x) for x in ("[64]", "[64, 64]")] == [[64], [64, 64]]
    assert not parse_distribution("choice([2, 3, 4])").encoded


def test_a_space_keeps_file_order_and_gives_overrides(base):
    space = space_from_dict({"ppo.learning_rate": "loguniform(1e-5, 1e-3)", "env.frame_skip": "choice([2, 3, 4])",
                             "ppo.net_arch_pi": "choice([[32], [64, 64]])", "ppo.n_epochs": "randint(3, 10)"}, base)
    assert list(space.entries) == ["ppo.learning_rate", "env.frame_skip", "ppo.net_arch_pi", "ppo.n_epochs"]
    params = {"ppo.learning_rate": 3e-4, "env.frame_skip": 3, "ppo.net_arch_pi": "[64, 64]", "ppo.n_epochs": 7}
    overrides = space.overrides(params)
    assert overrides == {"ppo.learning_rate": 3e-4, "env.frame_skip": 3, "ppo.net_arch_pi": [64, 64], "ppo.n_epochs": 7}
    cfg = apply_overrides(base, overrides)
    assert (cfg.ppo.net_arch_pi, cfg.env.frame_skip, cfg.ppo.n_epochs) == ([64, 64], 3, 7)
    assert space.largest("n_envs", base.n_envs) == 1 and space.largest("ppo.n_epochs", 0) == 10
    assert space_from_dict(space.to_dict(), base) == space  # what sweep.yaml saves reads back


def test_a_rule_between_keys_may_be_met_by_another_key_of_the_space(base):
    # batch_size 256 alone breaks batch_size <= n_steps x n_envs (128 x 1); with n_steps 256 or 512 it fits
    space = space_from_dict({"ppo.batch_size": "choice([64, 256])", "ppo.n_steps": "choice([256, 512])"}, base)
    assert set(space.entries) == {"ppo.batch_size", "ppo.n_steps"}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


BAD = [
    ("unknown-key", "ppo.learnin_rate: loguniform(1e-5, 1e-3)\n", ("unknown config key 'ppo.learnin_rate'",
                                                                   "ppo.learning_rate")),
    ("unknown-section", "optim.lr: uniform(0, 1)\n", ("unknown config key 'optim.lr'",)),
    ("a-section", "ppo: choice([1, 2])\n", ("'ppo' is a section",)),
    ("eval-key", "eval.episodes: randint(1, 3)\n", ("'eval.episodes' cannot vary", "same evaluation")),
    ("out-of-range", "ppo.learning_rate: loguniform(1e-5, 2)\n", ("ppo.learning_rate", "loguniform(1e-5, 2)",
                                                                   "(0, 1]", "got 2")),
    ("gamma-above-1", "ppo.gamma: uniform(0.9, 1.5)\n", ("ppo.gamma", "(0, 1]", "1.5")),
    ("negative-choice", "env.frame_skip: choice([2, -1])\n", ("env.frame_skip", "[1, 50]", "-1")),
    ("bad-choice-value", "env.obs: choice([features, lidar])\n", ("env.obs", "pixels, features", "lidar")),
    ("wrong-type", "ppo.n_epochs: choice([3, fast])\n", ("ppo.n_epochs", "an integer", "fast")),
    ("uniform-on-an-integer", "ppo.n_epochs: uniform(3, 10)\n", ("ppo.n_epochs", "is an integer", "randint")),
    ("number-range-on-a-string", "env.obs: uniform(0, 1)\n", ("env.obs", "not a number", "choice")),
    ("unknown-form", "ppo.learning_rate: normal(0, 1)\n", ("ppo.learning_rate", "loguniform(lo, hi)", "normal(0, 1)")),
    ("plain-list", "env.frame_skip: [2, 3]\n", ("env.frame_skip", "choice([...])")),
    ("fixed-value", "env.frame_skip: 3\n", ("env.frame_skip", "fixed value belongs in the base config")),
    ("empty-range", "ppo.ent_coef: uniform(0.01, 0.01)\n", ("ppo.ent_coef", "range is empty")),
    ("log-of-zero", "ppo.ent_coef: loguniform(0, 0.01)\n", ("ppo.ent_coef", "lo above 0")),
    ("too-few-numbers", "ppo.ent_coef: uniform(0.01)\n", ("uniform takes 2 numbers",)),
    ("not-numbers", "ppo.ent_coef: uniform(a, b)\n", ("expected numbers", "'a'")),
    ("randint-of-floats", "ppo.n_epochs: randint(1.5, 4)\n", ("randint takes integer bounds",)),
    ("empty-choice", "env.frame_skip: choice([])\n", ("choice list is empty",)),
    ("repeated-choice", "env.frame_skip: choice([2, 2])\n", ("repeats a value",)),
    ("rule-no-other-key-can-meet", "ppo.batch_size: choice([64, 4096])\n", ("ppo.batch_size", "4096",
                                                                            "128 x 1 = 128")),
    ("missing-track", "env.track: choice([kidney, no_such_track])\n", ("env.track", "no_such_track")),
    ("not-a-mapping", "- ppo.learning_rate\n", ("a search space is a mapping", "got a list")),
    ("empty-file", "# nothing\n", ("a search space is a mapping", "got empty")),
    ("bad-yaml", "ppo.learning_rate: [1, \n", ("not valid YAML", "line")),
]


@pytest.mark.parametrize("text, expect", [(t, e) for _, t, e in BAD], ids=[i for i, _, _ in BAD])
def test_a_bad_space_is_one_line_naming_the_file_and_key(tmp_path, base, text, expect):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_space(path, base)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(path)), message
    for fragment in expect:
        assert fragment.lower() in message.lower(), f"{fragment!r} not in {message!r}"


def test_a_missing_space_file_is_named(tmp_path, base):
    with pytest.raises(ConfigError, match="no_space.yaml: no such search-space file"):
        load_space(tmp_path / "no_space.yaml", base)


def _summary(laps: int, lap_s: float | None, progress: float, ratio: float | None = None) -> dict:
    return {"laps_completed": laps, "laps_attempted": 3, "median_lap_time_s": lap_s, "median_line_ratio": ratio,
            "mean_progress_pct": progress, "mean_reward": 10.0 * progress}


def test_the_laps_objective_ranks_laps_then_speed_then_progress():
    ranked = [_summary(0, None, 10.0), _summary(0, None, 90.0), _summary(1, 60.0, 50.0), _summary(1, 20.0, 40.0),
              _summary(2, 90.0, 100.0), _summary(2, 90.0, 100.0, ratio=1.05), _summary(2, 90.0, 100.0, ratio=1.01)]
    scores = [score(s, "laps") for s in ranked]
    assert scores == sorted(scores) and len(set(scores)) == len(scores)
    assert all(0 <= score(s, "laps") - s["laps_completed"] < 1 for s in ranked)  # one more lap always wins
    assert score(_summary(0, None, 55.0), "progress") == 55.0 and score(_summary(0, None, 5.0), "reward") == 50.0
    with pytest.raises(ConfigError, match="choose one of laps, progress, reward"):
        score(_summary(0, None, 5.0), "speed")


def test_the_space_converts_to_ray_tune_domains(base):
    pytest.importorskip("ray.tune", reason="Ray Tune is the optional sweep extra")
    space = space_from_dict({"ppo.n_epochs": "randint(3, 10)", "ppo.net_arch_pi": "choice([[32], [64, 64]])",
                             "ppo.learning_rate": "loguniform(1e-5, 1e-3)"}, base)
    tuned = space.to_tune()
    assert (tuned["ppo.n_epochs"].lower, tuned["ppo.n_epochs"].upper) == (3, 11)  # Tune's upper end is excluded
    assert tuned["ppo.net_arch_pi"].categories == ["[32]", "[64, 64]"]
    assert (tuned["ppo.learning_rate"].lower, tuned["ppo.learning_rate"].upper) == (1e-5, 1e-3)


def test_reward_files_in_a_space_are_made_absolute(tmp_path, base, monkeypatch):
    (tmp_path / "rewards").mkdir()
    (tmp_path / "rewards" / "mine.py").write_text("def reward_function(params):\n    return float(params['progress'])\n")
    monkeypatch.chdir(tmp_path)
    space = space_from_dict({"env.reward": "choice([progress, rewards/mine.py])"}, base)
    mine = str(tmp_path / "rewards" / "mine.py")
    assert space.entries["env.reward"].args == ("progress", mine)
    assert space.to_dict() == {"env.reward": f"choice([progress, {mine}])"}  # what sweep.yaml keeps
    monkeypatch.chdir(tmp_path / "rewards")  # a trial runs elsewhere: the file is still found
    assert apply_overrides(base, space.overrides({"env.reward": mine})).env.reward == mine
