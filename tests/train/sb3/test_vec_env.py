"""SplitVecEnv: the same results as DummyVecEnv, with env 0 in this process and the rest in workers."""

from __future__ import annotations

import os

import numpy as np
import pytest
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from racingline import make_env
from racingline.train.sb3.vec_env import SplitVecEnv


def _fns(n: int):
    # Short episodes so auto-resets happen within the test; different start points per env.
    return [lambda i=i: Monitor(make_env("kidney", obs="features", continuous=True, max_episode_steps=40 + 7 * i,
                                         start_waypoint="random")) for i in range(n)]


def _run(venv, steps: int = 150):
    venv.seed(5)
    obs = [venv.reset()]
    rng = np.random.default_rng(0)
    rewards, dones, infos = [], [], []
    for _ in range(steps):
        actions = rng.uniform([-1, 0, 0], [1, 1, 0.2], size=(venv.num_envs, 3)).astype(np.float32)
        o, r, d, info = venv.step(actions)
        obs.append(o)
        rewards.append(r)
        dones.append(d)
        infos.append(info)
    venv.close()
    return np.array(obs), np.array(rewards), np.array(dones), infos


@pytest.mark.parametrize("n,spin", [(1, None), (2, True), (3, False), (3, True)])
def test_split_matches_dummy_vec_env(n, spin):
    venv = SplitVecEnv(_fns(n), spin=spin)
    assert venv.spin == (spin is True and n > 1)
    obs, rewards, dones, infos = _run(venv)
    ref_obs, ref_rewards, ref_dones, ref_infos = _run(DummyVecEnv(_fns(n)))
    assert dones.sum() >= n  # every env ended an episode and was reset
    np.testing.assert_array_equal(obs, ref_obs)
    np.testing.assert_array_equal(rewards, ref_rewards)
    np.testing.assert_array_equal(dones, ref_dones)
    for step, ref_step in zip(infos, ref_infos):
        for info, ref in zip(step, ref_step):
            assert info["progress"] == ref["progress"] and info["TimeLimit.truncated"] == ref["TimeLimit.truncated"]
            if "terminal_observation" in ref:
                np.testing.assert_array_equal(info["terminal_observation"], ref["terminal_observation"])
                # "t" is wall-clock time since the Monitor started: never compared.
                assert {k: v for k, v in info["episode"].items() if k != "t"} == \
                    {k: v for k, v in ref["episode"].items() if k != "t"}


def test_spinning_is_chosen_by_free_cpus(monkeypatch):
    import racingline.train.sb3.vec_env as vec_env

    monkeypatch.setattr(vec_env, "available_cpus", lambda: 2)
    for n, spins in ((1, False), (2, True), (3, False)):
        venv = SplitVecEnv(_fns(n))
        try:
            assert venv.spin is spins
            if n > 1:
                assert type(venv.remote).__name__ == "WorkerVecEnv" and venv.remote.spin is spins
            else:
                assert venv.remote is None
        finally:
            venv.close()


def test_split_runs_env_zero_here_and_the_rest_in_workers():
    venv = SplitVecEnv(_fns(3))
    try:
        venv.reset()
        assert venv.env_method("get_wrapper_attr", "frame_skip") == [2, 2, 2]
        assert venv.local.num_envs == 1 and venv.remote.num_envs == 2
        here = os.getpid()
        assert all(p.pid != here and p.is_alive() for p in venv.remote.processes)
        assert venv.get_attr("max_episode_steps") == [40, 47, 54]
        assert venv.get_attr("max_episode_steps", indices=[2, 0]) == [54, 40]
        venv.set_attr("off_track_penalty", -3.0, indices=[1])
        assert venv.get_attr("off_track_penalty") == [-100.0, -3.0, -100.0]
        assert venv.env_is_wrapped(Monitor) == [True, True, True]
    finally:
        venv.close()
