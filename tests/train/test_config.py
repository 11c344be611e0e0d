"""Config loading, validation, overrides and saving (racingline.train.config, racingline.train.training.resolve_config)."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from racingline.train.config import (
    CONFIGS_DIR,
    Config,
    ConfigError,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    env_kwargs,
    load_config,
    save_config,
)
from racingline.train.training import resolve_config


def test_project_configs_load_with_the_tutorial_settings():
    seed = load_config("seed")
    assert seed.name == "seed"
    assert (seed.total_timesteps, seed.n_envs, seed.norm_reward, seed.norm_obs) == (2_000_000, 9, True, False)
    assert (seed.env.size, seed.env.grayscale, seed.env.frame_skip, seed.env.frame_stack) == (64, True, 2, 4)
    assert seed.env.renderer == "pygame"
    assert (seed.ppo.learning_rate, seed.ppo.lr_schedule, seed.ppo.activation) == (1e-4, "linear", "gelu")
    assert (seed.ppo.net_arch_pi, seed.ppo.net_arch_vf, seed.ppo.ortho_init) == ([256], [256], False)
    # The tutorial starts from scratch and keeps its last model; the default starts from the line controller.
    assert (seed.demos.episodes, seed.select.generated, seed.env.generated_width_m) == (0, 0, None)
    default = load_config()
    assert default.demos.episodes > 0 and default.demos.driver.startswith("line:") and default.select.generated > 0
    assert default.name == "default"
    assert default.env.renderer == "fast"
    assert load_config(CONFIGS_DIR / "seed.yaml") == seed


def test_load_config_by_path_and_missing_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nppo:\n  n_steps: 64\n")
    cfg = load_config(path)
    assert (cfg.name, cfg.ppo.n_steps, cfg.ppo.batch_size) == ("mine", 64, Config().ppo.batch_size)
    with pytest.raises(ConfigError, match="nope.yaml: no such config file"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "text, message",
    [
        ("bogus: 1\n", "unknown config key 'bogus'"),
        ("ppo:\n  n_step: 64\n", "unknown config key 'ppo.n_step'"),
        ("ppo:\n  n_steps: many\n", "'ppo.n_steps' must be an integer, got 'many'"),
        ("ppo:\n  n_steps: 0\n", "'ppo.n_steps' must be in [1, inf), got 0"),
        ("", "the config file is empty"),
        ("ppo:\n  gamma: 2\n", "'ppo.gamma' must be in (0, 1], got 2"),
        ("env:\n  track: []\n", "'env.track' must name at least one track"),
        ("ppo:\n  learning_rate: fast\n", "'ppo.learning_rate' must be a number"),
        ("norm_reward: 1\n", "'norm_reward' must be true/false"),
        ("env:\n  obs: radar\n", "'env.obs' must be one of pixels, features"),
        ("env:\n  reverse: sometimes\n", "'env.reverse'"),
        ("env: 3\n", "'env' must be a mapping"),
        ("- a\n- b\n", "must be a mapping"),
        ("ppo: [1\n", "not valid YAML at line"),
    ],
)
def test_invalid_config_files_name_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_numbers_are_coerced_where_unambiguous():
    cfg = config_from_dict({"total_timesteps": "2e6", "ppo": {"learning_rate": 1, "clip_range": "0.1"}})
    assert cfg.total_timesteps == 2_000_000 and isinstance(cfg.total_timesteps, int)
    assert cfg.ppo.learning_rate == 1.0 and isinstance(cfg.ppo.learning_rate, float)
    assert cfg.ppo.clip_range == 0.1
    with pytest.raises(ConfigError, match="'total_timesteps' must be an integer"):
        config_from_dict({"total_timesteps": 1.5})


def test_apply_overrides_parses_yaml_values_and_validates():
    cfg = apply_overrides(Config(), ["ppo.learning_rate=3e-4", "env.obs=features", "n_envs=2",
                                     "ppo.net_arch_pi=[64, 64]", "env.max_episode_steps=null", "norm_obs=true"])
    assert cfg.ppo.learning_rate == 3e-4
    assert (cfg.env.obs, cfg.n_envs, cfg.ppo.net_arch_pi, cfg.norm_obs) == ("features", 2, [64, 64], True)
    assert cfg.env.max_episode_steps is None
    assert apply_overrides(cfg, {"seed": 7}).seed == 7
    with pytest.raises(ConfigError, match="unknown config key 'ppo.nope'"):
        apply_overrides(cfg, ["ppo.nope=1"])
    with pytest.raises(ConfigError, match="unknown config key 'foo.bar'"):
        apply_overrides(cfg, ["foo.bar=1"])
    with pytest.raises(ConfigError, match="'ppo.n_epochs' must be an integer, got 'abc'"):
        apply_overrides(cfg, ["ppo.n_epochs=abc"])
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides(cfg, ["ppo.n_epochs"])


def test_save_config_round_trips(tmp_path):
    cfg = apply_overrides(load_config("seed"), ["env.track=[kidney, s_bend]", "env.track_weights=[1, 3]"])
    path = save_config(cfg, tmp_path / "sub" / "config.yaml")
    assert load_config(path) == cfg
    assert config_from_dict(yaml.safe_load(path.read_text())) == cfg
    assert config_from_dict(config_to_dict(cfg)) == cfg
    assert not [p for p in path.parent.iterdir() if p.name != "config.yaml"]  # no temporary files left


def test_env_kwargs_expand_track_pools():
    kw = env_kwargs(dataclasses.replace(Config().env, track=["kidney", "s_bend"], track_weights=[1.0, 3.0]))
    assert "frame_stack" not in kw
    assert len(kw["track"]) == 2 and kw["track_weights"] == [1.0, 3.0]
    single = env_kwargs(dataclasses.replace(Config().env, track="kidney"))
    assert single["track_weights"] is None and single["track"].name == "kidney"
    assert single["track"].source.endswith("kidney.npy")  # loaded once, here: workers get the Track
    assert env_kwargs(Config().env)["track"] == "random"


def test_resolve_config_applies_sets_then_named_options(tmp_path):
    cfg = resolve_config("default", ["n_envs=3", "seed=5", "env.obs=features"], n_envs=1, timesteps=4096,
                         tracks=["kidney"])
    assert (cfg.n_envs, cfg.seed, cfg.total_timesteps, cfg.env.obs) == (1, 5, 4096, "features")
    assert cfg.env.track == "kidney" and cfg.env.track_weights is None
    pool = resolve_config("default", ["env.track_weights=[1, 2]"], tracks=["kidney", "s_bend"])
    assert pool.env.track == ["kidney", "s_bend"] and pool.env.track_weights == [1.0, 2.0]
    # --track alone drops the weights of the config's own pool (they belonged to other tracks)
    path = save_config(apply_overrides(Config(), ["env.track=[kidney, s_bend]", "env.track_weights=[1, 2]"]),
                       tmp_path / "pool.yaml")
    assert load_config(path).env.track_weights == [1.0, 2.0]
    replaced = resolve_config(path, tracks=["s_bend", "kidney", "rounded_rectangle"])
    assert replaced.env.track == ["s_bend", "kidney", "rounded_rectangle"] and replaced.env.track_weights is None
    with pytest.raises(ConfigError, match="missing.yaml"):
        resolve_config("missing.yaml")


def test_pixels_config_builds_a_pooled_pixel_policy():
    from racingline.train.sb3.policies import FastActorCriticPolicy, PooledFlatten
    from racingline.train.training import build_model, build_vec_env

    cfg = apply_overrides(load_config("pixels"), {"n_envs": 1, "ppo.n_steps": 64, "ppo.batch_size": 64})
    assert (cfg.env.obs, cfg.env.renderer, cfg.env.frame_stack, cfg.ppo.pixel_pool) == ("pixels", "fast", 4, 4)
    venv = build_vec_env(cfg)
    try:
        model = build_model(cfg, venv)
        assert isinstance(model.policy, FastActorCriticPolicy)
        assert isinstance(model.policy.features_extractor, PooledFlatten)
        assert model.policy.features_extractor.features_dim == 4 * 14 * 16 + 4 * 8 * 64  # pooled view, full bar
        model.learn(128)  # a rollout and an update through the pooled network
        assert model.num_timesteps == 128
    finally:
        venv.close()


def test_pixel_pool_needs_pixel_observations(tmp_path):
    from racingline.train.training import build_model, build_vec_env, train

    cfg = apply_overrides(load_config(), {"n_envs": 1, "ppo.pixel_pool": 2})
    with pytest.raises(ConfigError, match="ppo.pixel_pool"):
        train(cfg, run_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()  # refused before a run folder was made
    venv = build_vec_env(cfg)
    try:
        with pytest.raises(ConfigError, match="ppo.pixel_pool"):
            build_model(cfg, venv)
    finally:
        venv.close()


def test_pixel_full_rows_needs_pooling_and_fits_the_image(tmp_path):
    from racingline.train.training import train

    base = {"n_envs": 1, "env.obs": "pixels", "env.frame_stack": 4, "demos.episodes": 0}
    for extra, why in (({"ppo.pixel_pool": 1, "ppo.pixel_full_rows": 8}, "pixel_pool > 1"),
                       ({"ppo.pixel_pool": 4, "ppo.pixel_full_rows": 64}, "must be less than")):
        cfg = apply_overrides(load_config(), base | extra)
        with pytest.raises(ConfigError, match=f"ppo.pixel_full_rows.*{why}"):
            train(cfg, run_dir=tmp_path / "run", progress=False)
        assert not (tmp_path / "run").exists()


def test_dagger_expert_follows_the_demonstrations_driver():
    from racingline.train.training import _dagger_expert

    assert _dagger_expert(load_config("pixels")) == "centerline"
    assert _dagger_expert(load_config()) == "mincurv"
    assert _dagger_expert(apply_overrides(load_config(), {"demos.driver": "line:some_line.npz"})) is None
