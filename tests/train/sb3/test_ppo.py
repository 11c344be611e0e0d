"""FastPPO's rollout loop: the same rollouts, updates and bookkeeping as Stable-Baselines3's own loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack, VecNormalize

from racingline import make_env
from racingline.train.sb3.policies import FastActorCriticPolicy, PooledFlatten
from racingline.train.sb3.ppo import FastPPO


class _Record(BaseCallback):
    """What callbacks see each step: rewards, dones and the episode infos."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = []

    def _on_step(self) -> bool:
        self.seen.append((self.locals["rewards"].copy(), self.locals["dones"].copy(),
                          [i.get("episode", {}).get("l") for i in self.locals["infos"]], self.num_timesteps))
        return True


def _venv(obs: str, continuous: bool):
    # Short step limits and off-track termination: both kinds of episode end (and the time-limit
    # bootstrapping) happen within the rollouts.
    fns = [lambda i=i: Monitor(make_env("kidney", obs=obs, continuous=continuous, max_episode_steps=30 + 9 * i,
                                        start_waypoint="random", terminate_on_off_track=True)) for i in range(2)]
    venv = DummyVecEnv(fns)
    venv.seed(3)
    if obs == "pixels":
        venv = VecFrameStack(venv, 4)
    return VecNormalize(venv, norm_obs=False, norm_reward=True)


def _train(cls, obs: str, continuous: bool):
    kwargs = dict(net_arch=dict(pi=[32], vf=[32]))
    if obs == "pixels":
        kwargs.update(features_extractor_class=PooledFlatten, features_extractor_kwargs={"pool": 4})
    venv = _venv(obs, continuous)
    model = cls(FastActorCriticPolicy, venv, n_steps=64, batch_size=64, n_epochs=2, seed=11, device="cpu",
                policy_kwargs=kwargs)
    record = _Record()
    model.learn(3 * 64 * 2, callback=record)
    venv.close()
    return model, record.seen


@pytest.mark.parametrize("obs,continuous", [("features", True), ("features", False), ("pixels", False)])
def test_fast_loop_matches_sb3_loop(obs, continuous):
    fast, fast_seen = _train(FastPPO, obs, continuous)
    ref, ref_seen = _train(PPO, obs, continuous)
    assert fast.policy.numpy_rollout_plan() is not None  # the NumPy loop ran
    a, b = fast.rollout_buffer, ref.rollout_buffer
    for name in ("observations", "actions", "rewards", "episode_starts", "values", "log_probs", "advantages",
                 "returns"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for p, q in zip(fast.policy.parameters(), ref.policy.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)  # the same updates
    assert fast.num_timesteps == ref.num_timesteps == 3 * 64 * 2
    assert [e["l"] for e in fast.ep_info_buffer] == [e["l"] for e in ref.ep_info_buffer]
    assert len(fast.ep_info_buffer) >= 4  # episodes ended, by the step limit and by leaving the road
    assert len(fast_seen) == len(ref_seen) == 3 * 64
    for (r1, d1, l1, t1), (r2, d2, l2, t2) in zip(fast_seen, ref_seen):
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(d1, d2)
        assert l1 == l2 and t1 == t2


def test_callback_can_stop_the_rollout():
    class Stop(BaseCallback):
        def _on_step(self) -> bool:
            return self.n_calls < 10

    venv = _venv("features", True)
    model = FastPPO(FastActorCriticPolicy, venv, n_steps=64, batch_size=64, seed=0, device="cpu")
    model.learn(1000, callback=Stop())
    venv.close()
    assert model.num_timesteps == 10 * 2


def test_saved_fast_ppo_loads_with_sb3(tmp_path):
    model, _ = _train(FastPPO, "features", True)
    model.save(tmp_path / "m.zip")
    loaded = PPO.load(tmp_path / "m.zip", device="cpu")
    obs = np.zeros((1, *model.observation_space.shape), dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
