"""Behaviour cloning and pretraining (``racingline train --pretrain``): the observation pipeline matches
training's, cloning and critic regression reduce held-out errors, DAgger labels with the line controller,
a pretrained run trains, records its pretraining, loads with ``racingline eval`` and is not pretrained again
on resume, and bad datasets give one line and no run folder."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from racingline.record.bc import PRETRAIN_FILE, BehaviourCloning, Demonstrations
from racingline.record.dataset import DatasetWriter, open_dataset
from racingline.record.wrapper import RecordEpisodes, RecordSpec
from racingline.sim.wrappers import make_env
from racingline.train.config import apply_overrides, env_settings, load_config

from helpers import BadInput, run_bad_input

TRACK = "kidney"


def _env_kw(**changes) -> dict:
    kw = env_settings(load_config("default").env)
    kw.update(track=TRACK, track_weights=None, start_waypoint="random", reverse="random", max_episode_steps=250)
    kw.update(changes)
    return kw


def _spec(path: Path, kw: dict, driver: str) -> RecordSpec:
    config = {k: v for k, v in kw.items() if k != "track"} | {"track": None}
    return RecordSpec(path, meta={"driver": driver, "obs": kw["obs"], "config": config},
                      episode_meta={"driver": driver})


def record_line_laps(path: Path, episodes: int = 4, seed: int = 0, **changes) -> Path:
    """Episodes of the line controller (a mincurv line per direction) on the default config's env, recorded."""
    from racingline.lines.drive import LineFollower
    from racingline.lines.optimize import optimize_line

    kw = _env_kw(**changes)
    env = RecordEpisodes(make_env(**kw), _spec(path, kw, "line:mincurv"))
    followers: dict = {}
    try:
        for i in range(episodes):
            env.reset(seed=seed + i)
            state = env.unwrapped.state
            key = bool(state.track_reversed)
            if key not in followers:
                followers[key] = LineFollower(optimize_line(state.sim.track, "mincurv"))
            follower = followers[key]
            follower.reset()
            while True:
                _, _, terminated, truncated, _ = env.step(follower.continuous(env.unwrapped.state))
                if terminated or truncated:
                    break
    finally:
        env.close()
    return path


def _record_scripted(path: Path, actions, episodes: int = 1, **changes) -> Path:
    """Short episodes of ``actions(state, t)`` on the env of ``_env_kw(**changes)``, recorded."""
    kw = _env_kw(**changes)
    env = RecordEpisodes(make_env(**kw), _spec(path, kw, "scripted"))
    try:
        for i in range(episodes):
            env.reset(seed=i)
            t = 0
            while True:
                _, _, terminated, truncated, _ = env.step(actions(env.unwrapped.state, t))
                t += 1
                if terminated or truncated:
                    break
    finally:
        env.close()
    return path


@pytest.fixture(scope="module")
def demos_path(tmp_path_factory) -> Path:
    """Four line-controller episodes on kidney (random starts and directions, up to 250 steps each)."""
    return record_line_laps(tmp_path_factory.mktemp("bc") / "demos", episodes=4)


def _model(cfg):
    import torch

    from racingline.train.training import build_model, build_vec_env

    torch.set_num_threads(1)
    venv = build_vec_env(cfg)
    return build_model(cfg, venv), venv


def _cfg(**sets):
    base = {"n_envs": 1, "vec_env": "dummy", "env.track": TRACK, "env.track_weights": None}
    return apply_overrides(load_config("default"), {**base, **sets})


# ---------------------------------------------------------------------------------------------- pipeline
def test_frame_stacks_are_rebuilt_as_vec_frame_stack_makes_them(tmp_path):
    """The stacked observations of a recorded episode are exactly those SB3's VecFrameStack gave the agent."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack

    kw = _env_kw(max_episode_steps=12, start_waypoint=0, reverse=False)
    path = tmp_path / "ds"
    venv = VecFrameStack(DummyVecEnv([lambda: RecordEpisodes(make_env(**kw), _spec(path, kw, "fixed"))]), n_stack=3)
    venv.seed(0)
    seen = [venv.reset()[0]]
    rng = np.random.default_rng(0)
    for _ in range(24):  # two whole episodes of 12 steps (the vec env resets itself in between)
        obs, _, _, _ = venv.step(rng.uniform([-1, 0, 0], [1, 1, 0.2], size=(1, 3)).astype(np.float32))
        seen.append(obs[0])
    venv.close()
    demos = Demonstrations.from_dataset(path, frame_stack=3)
    assert demos.n_episodes == 2 and demos.n_steps == 24
    stacked = demos.observations(np.arange(24))
    assert stacked.shape == (24, 37 * 3)
    np.testing.assert_array_equal(stacked, np.stack(seen[:24]))
    # The start of an episode is zero-padded, as VecFrameStack pads it.
    assert not stacked[12, :74].any() and stacked[12, 74:].any()


def test_normaliser_statistics_come_from_the_dataset(demos_path):
    cfg = _cfg(norm_obs=True, **{"env.frame_stack": 2})
    model, venv = _model(cfg)
    try:
        demos = Demonstrations.from_dataset(demos_path, frame_stack=2)
        BehaviourCloning(model, venv, demos, gamma=cfg.ppo.gamma)
        obs = demos.observations(np.arange(demos.n_steps))
        np.testing.assert_allclose(venv.obs_rms.mean, obs.mean(axis=0), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(venv.obs_rms.var, obs.var(axis=0), rtol=1e-4, atol=1e-6)
        # The return statistics are those VecNormalize gathers: running discounted sums within each episode.
        running, ret = [], 0.0
        for r, t in zip(demos.rewards, demos.t, strict=True):
            ret = r if t == 0 else ret * cfg.ppo.gamma + r
            running.append(ret)
        assert venv.ret_rms.var == pytest.approx(np.var(running), rel=1e-4)
    finally:
        venv.close()


# ---------------------------------------------------------------------------------------------- cloning
def test_cloning_reduces_the_held_out_action_and_value_errors(demos_path):
    cfg = _cfg()
    model, venv = _model(cfg)
    try:
        demos = Demonstrations.from_dataset(demos_path)
        bc = BehaviourCloning(model, venv, demos, gamma=cfg.ppo.gamma)
        assert bc.held_idx.size > 0 and not np.isin(demos.episode[bc.held_idx], demos.episode[bc.train_idx]).any()
        before, per_dim_before, value_before = bc.heldout_errors()
        losses = bc.fit(40)
        std = bc.set_action_std()
        after, per_dim, value_after = bc.heldout_errors()
    finally:
        venv.close()
    assert len(losses) == 40 and losses[-1] < 0.3 * losses[0]
    # Held-out steps (an episode never trained on): the cloned policy's action error is well below the
    # untrained policy's (gas is the controller's bang-bang traction control, the hardest to fit), and the
    # critic's error on the returns-to-go shrinks too.
    assert after < 0.6 * before, (before, after)
    assert value_after < 0.5 * value_before, (value_before, value_after)
    assert len(per_dim) == 3 and per_dim[0] < 0.5 * per_dim_before[0]  # steering, the smoothest output
    # The action noise is the residual of the fit, at least min_std, and it is what the policy now samples with.
    np.testing.assert_allclose(np.exp(model.policy.log_std.detach().numpy()), std, rtol=1e-5)
    assert min(std) >= bc.min_std and max(std) < 0.5


def test_balanced_cloning_weighs_each_action_by_one_over_its_spread(demos_path):
    import torch

    cfg = _cfg()
    model, venv = _model(cfg)
    try:
        demos = Demonstrations.from_dataset(demos_path)
        plain = BehaviourCloning(model, venv, demos, gamma=cfg.ppo.gamma)
        bc = BehaviourCloning(model, venv, demos, gamma=cfg.ppo.gamma, balance=True, set_stats=False)
        actions = demos.actions[bc.train_idx].reshape(bc.train_idx.size, -1)
        var = np.maximum(actions.std(axis=0), 1e-2) ** 2
        # The controller steers within +-0.4 but uses all of gas: steering's error weighs more than gas's.
        np.testing.assert_allclose(bc.action_weights, (1 / var) / np.mean(1 / var), rtol=1e-6)
        assert plain.action_weights is None and bc.action_weights[0] > bc.action_weights[1]
        steps = bc.train_idx[:64]
        with torch.no_grad():
            out = bc._actor_out(bc._tensor(steps))
            error = (out.numpy() - demos.actions[steps].reshape(out.shape)) ** 2
            assert float(bc._actor_loss(out, steps)) == pytest.approx(float((error * bc.action_weights).mean()), rel=1e-5)
            assert float(plain._actor_loss(out, steps)) == pytest.approx(float(error.mean()), rel=1e-5)
        _, steer_before, _ = bc.heldout_errors()
        bc.fit(40)
        _, steer_after, _ = bc.heldout_errors()
        assert steer_after[0] < 0.5 * steer_before[0], (steer_before, steer_after)
    finally:
        venv.close()


def test_cloning_discrete_actions_uses_their_logits(tmp_path):
    """A discrete-action config clones a discrete driver: gas when slow, else steer toward the centerline
    2 m ahead (CarRacing's discrete actions: 0 nothing, 1 right, 2 left, 3 gas, 4 brake)."""
    from racingline.sim.features import compute_features

    def toward_centerline(state, t):
        left = compute_features(state)[24]  # ahead_2m_left
        return 3 if state.speed_mps < 0.7 else 2 if left > 0.02 else 1 if left < -0.02 else 3

    path = _record_scripted(tmp_path / "discrete", toward_centerline, episodes=8, continuous=False,
                            max_episode_steps=150)
    cfg = _cfg(**{"env.continuous": False})
    model, venv = _model(cfg)
    try:
        bc = BehaviourCloning(model, venv, Demonstrations.from_dataset(path), gamma=cfg.ppo.gamma, batch_size=64)
        before, per_dim, _ = bc.heldout_errors()
        bc.fit(80)
        after, _, _ = bc.heldout_errors()
        assert bc.set_action_std() is None  # no Gaussian to set
        held = bc.demos.actions[bc.held_idx].astype(int)
    finally:
        venv.close()
    assert per_dim is None
    majority = 1.0 - np.bincount(held).max() / held.size  # the error of always choosing the commonest action
    assert after < 0.5 * before and after < 0.6 * majority, (before, after, majority)


def test_dagger_labels_the_policys_states_with_the_line_controller(demos_path):
    from racingline.record.dagger import collect_dagger, dagger
    from racingline.record.recorder import LineDriver

    class Logged(LineDriver):
        def __init__(self) -> None:
            super().__init__("mincurv")
            self.labels: list[np.ndarray] = []

        def act(self, state):
            self.labels.append(super().act(state))
            return self.labels[-1]

    cfg = _cfg()
    model, venv = _model(cfg)
    kw = _env_kw(max_episode_steps=60)
    try:
        bc = BehaviourCloning(model, venv, Demonstrations.from_dataset(demos_path), gamma=cfg.ppo.gamma)
        bc.fit(5)
        expert = Logged()
        more, summary = collect_dagger(bc, kw, episodes=2, seed=5, driver=expert)
        assert more is not None and summary["episodes"] == 2 and summary["steps"] == more.n_steps
        assert more.source == ["dagger", "dagger"]
        # Every step's label is the controller's action at the state the policy drove to.
        np.testing.assert_array_equal(more.actions, np.stack(expert.labels))
        n_train = bc.train_idx.size
        log = dagger(bc, kw, rounds=1, episodes=2, epochs=2, seed=0)
        assert len(log) == 1 and bc.train_idx.size == n_train + log[0]["steps"]
    finally:
        venv.close()


# ---------------------------------------------------------------------------------------------- the CLI
def _racingline(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", "MPLBACKEND": "Agg",
           "XDG_CACHE_HOME": str(cwd / ".cache")}
    env.pop("RACINGLINE_TRACKS", None)
    return subprocess.run([sys.executable, "-m", "racingline.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def test_pretrain_then_fine_tune_writes_pretrain_json_and_evaluates(demos_path, tmp_path):
    proc = _racingline("train", "--pretrain", str(demos_path), "--pretrain-epochs", "20", "--dagger-rounds", "1",
                       "--set", "select.generated=0",
                       "--timesteps", "2048", "--n-envs", "2", "--track", TRACK, "--set", "env.max_episode_steps=80",
                       "--run-dir", "run", "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "run"
    record = json.loads((run / PRETRAIN_FILE).read_text())
    ds = open_dataset(demos_path)
    assert record["dataset"] == str(demos_path.absolute()) and record["dataset_id"] == ds.metadata_raw["dataset_id"]
    assert (record["episodes"], record["steps"], record["epochs"]) == (ds.total_episodes, ds.total_steps, 20)
    assert record["heldout_action_error"] < record["heldout_action_error_before"]
    assert record["critic"] == "trained" and len(record["dagger"]) == 1 and record["final_bc_loss"] > 0
    ev = _racingline("eval", "--model", "run", "--track", TRACK, "--max-steps", "40", "--json", "eval.json",
                     cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    assert json.loads((tmp_path / "eval.json").read_text())["tracks"][0]["track"] == TRACK
    # Resuming continues PPO; it does not pretrain again, and asking it to is refused in one line.
    from typer.testing import CliRunner

    from racingline.cli import app
    from racingline.errors import ConfigError
    from racingline.train.training import train

    stamp = (run / PRETRAIN_FILE).stat().st_mtime_ns
    assert train(resume=run, total_timesteps=2560, progress=False) == run
    assert (run / PRETRAIN_FILE).stat().st_mtime_ns == stamp
    with pytest.raises(ConfigError, match="not pretrained again"):
        train(resume=run, total_timesteps=3072, progress=False, pretrain=demos_path)
    refused = CliRunner().invoke(app, ["train", "--resume", str(run), "--timesteps", "3072", "--pretrain",
                                       str(demos_path), "--no-progress"])
    lines = refused.output.strip().splitlines()
    assert refused.exit_code != 0 and len(lines) == 1 and "--pretrain" in lines[0], refused.output


# ---------------------------------------------------------------------------------------------- bad inputs
NO_RUN = ("runs", "runs/*")
TRAIN = ("train", "--n-envs", "2", "--timesteps", "2048", "--track", TRACK, "--no-progress", "--pretrain")


def _copy_demos(source: Path):
    def setup(folder: Path) -> None:
        shutil.copytree(source, folder / "ds")

    return setup


def _truncated(source: Path):
    def setup(folder: Path) -> None:
        shutil.copytree(source, folder / "ds")
        shutil.rmtree(folder / "ds" / "data" / "1")  # an episode lost after it was counted

    return setup


def _empty(folder: Path) -> None:
    kw = _env_kw()
    env = make_env(**kw)
    DatasetWriter(folder / "ds", env.observation_space, env.action_space)  # made, nothing recorded (a crash)
    env.close()


def _pixels(folder: Path) -> None:
    _record_scripted(folder / "ds", lambda state, t: np.array([0.0, 0.5, 0.0], np.float32), obs="pixels",
                     max_episode_steps=5)


def _discrete(folder: Path) -> None:
    _record_scripted(folder / "ds", lambda state, t: 3, continuous=False, max_episode_steps=5)


def bad_cases(demos: Path) -> list[BadInput]:
    return [
        BadInput("missing-dataset", (*TRAIN, "nowhere"), ("nowhere", "no such dataset"), absent=NO_RUN),
        BadInput("empty-dataset", (*TRAIN, "ds"), ("ds", "empty"), absent=NO_RUN, setup=_empty),
        BadInput("truncated-dataset", (*TRAIN, "ds"), ("ds", "truncated", "episode 1"), absent=NO_RUN,
                 setup=_truncated(demos)),
        BadInput("pixels-for-features", (*TRAIN, "ds"), ("ds", "observations", "Box(64, 64, 1) uint8",
                                                         "Box(37,) float32", "env.obs=features"),
                 absent=NO_RUN, setup=_pixels),
        BadInput("discrete-for-continuous", (*TRAIN, "ds"),
                 ("ds", "actions", "Discrete(5)", "Box(3,) float32", "env.continuous=true"),
                 absent=NO_RUN, setup=_discrete),
        BadInput("continuous-for-discrete", (*TRAIN, "ds", "--set", "env.continuous=false"),
                 ("ds", "actions", "Box(3,) float32", "Discrete(5)"), absent=NO_RUN, setup=_copy_demos(demos)),
        BadInput("dagger-with-discrete", (*TRAIN, "ds", "--set", "env.continuous=false", "--dagger-rounds", "1"),
                 ("--dagger-rounds", "continuous", "discrete actions"), absent=NO_RUN, setup=_discrete),
    ]


CASE_IDS = ["missing-dataset", "empty-dataset", "truncated-dataset", "pixels-for-features", "discrete-for-continuous",
            "continuous-for-discrete", "dagger-with-discrete"]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_bad_pretraining_input_is_one_line_and_no_run(case_id, demos_path, tmp_path):
    case = next(c for c in bad_cases(demos_path) if c.id == case_id)
    run_bad_input(case, tmp_path / case.id)


def test_bad_input_rows_are_all_run(demos_path):
    assert [c.id for c in bad_cases(demos_path)] == CASE_IDS


def test_recorded_config_is_what_pretraining_compares_rewards_with(demos_path):
    """A dataset recorded with another reward leaves the critic untrained (its returns are not this config's)."""
    from racingline.record.bc import reward_mismatch

    ds = open_dataset(demos_path)
    cfg = load_config("default")
    assert reward_mismatch(ds, cfg) == []
    other = dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, off_track_penalty=-50.0))
    assert reward_mismatch(ds, other) == ["off_track_penalty: dataset -10.0, config -50.0"]
