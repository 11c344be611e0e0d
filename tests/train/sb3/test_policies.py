"""FastActorCriticPolicy's rollout forward pass against SB3's distributions; PooledFlatten; the config hook."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.vec_env import DummyVecEnv

from racingline.train.sb3.policies import FastActorCriticPolicy, PooledFlatten


class _Probe(gym.Env):
    """A fixed observation and action space; PPO only needs the spaces here."""

    def __init__(self, obs_space: gym.Space, act_space: gym.Space) -> None:
        self.observation_space = obs_space
        self.action_space = act_space

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


FEATURES = gym.spaces.Box(-10.0, 10.0, (37,), np.float32)
PIXELS = gym.spaces.Box(0, 255, (64, 64, 4), np.uint8)
CONTINUOUS = gym.spaces.Box(np.array([-1.0, 0.0, 0.0], np.float32), np.array([1.0, 1.0, 1.0], np.float32))
DISCRETE = gym.spaces.Discrete(5)


def _policy(obs_space, act_space, activation=torch.nn.Tanh, **kwargs) -> FastActorCriticPolicy:
    venv = DummyVecEnv([lambda: _Probe(obs_space, act_space)])
    model = PPO(FastActorCriticPolicy, venv, seed=0, device="cpu", n_steps=64, batch_size=64,
                policy_kwargs=dict(activation_fn=activation, net_arch=dict(pi=[32, 32], vf=[32]), **kwargs))
    with torch.no_grad():  # a non-zero log_std and biases, so the comparisons are not trivial
        model.policy.log_std.fill_(-0.4) if hasattr(model.policy, "log_std") else None
        for p in model.policy.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.policy


def _obs(policy, n=16, seed=0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    space = policy.observation_space
    if space.dtype == np.uint8:
        return torch.as_tensor(rng.integers(0, 256, (n, *space.shape), dtype=np.uint8))
    return torch.as_tensor(rng.uniform(-2, 2, (n, *space.shape)).astype(np.float32))


@pytest.mark.parametrize("act_space", [CONTINUOUS, DISCRETE], ids=["gaussian", "categorical"])
@pytest.mark.parametrize("activation", [torch.nn.Tanh, torch.nn.ReLU, torch.nn.GELU])
def test_numpy_forward_matches_sb3_distribution(act_space, activation):
    policy = _policy(FEATURES, act_space, activation)
    obs = _obs(policy)
    with torch.no_grad():
        actions, values, log_prob = policy(obs)
        assert policy._numpy_plan() is not None  # the NumPy path ran
        ref_values, ref_log_prob, _ = ActorCriticPolicy.evaluate_actions(policy, obs, actions)
        det, _, _ = policy(obs, deterministic=True)
        ref_det = policy.get_distribution(obs).get_actions(deterministic=True)
    assert actions.shape == (16, *act_space.shape)
    np.testing.assert_allclose(values.numpy(), ref_values.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(log_prob.numpy(), ref_log_prob.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(det.numpy(), ref_det.numpy(), rtol=1e-5, atol=1e-6)


def test_torch_forward_with_gradients_matches_sb3():
    policy = _policy(FEATURES, CONTINUOUS)
    obs = _obs(policy)
    actions, values, log_prob = policy(obs)  # grad enabled: the torch path
    assert log_prob.requires_grad
    ref_values, ref_log_prob, _ = ActorCriticPolicy.evaluate_actions(policy, obs, actions.detach())
    torch.testing.assert_close(values, ref_values)
    torch.testing.assert_close(log_prob, ref_log_prob)


def test_categorical_samples_follow_the_softmax():
    policy = _policy(FEATURES, DISCRETE)
    obs = _obs(policy, n=1).repeat(20000, 1)
    with torch.no_grad():
        actions, _, _ = policy(obs)
        probs = policy.get_distribution(obs[:1]).distribution.probs[0].numpy()
    freq = np.bincount(actions.numpy(), minlength=5) / len(actions)
    assert probs.min() > 0.02  # every action has some mass, so the check covers all of them
    np.testing.assert_allclose(freq, probs, atol=0.015)


def test_gaussian_samples_have_the_policy_mean_and_std():
    policy = _policy(FEATURES, CONTINUOUS)
    obs = _obs(policy, n=1).repeat(20000, 1)
    with torch.no_grad():
        actions, _, _ = policy(obs)
        mean = policy.get_distribution(obs[:1]).distribution.mean[0].numpy()
    a = actions.numpy()
    np.testing.assert_allclose(a.mean(axis=0), mean, atol=0.02)
    np.testing.assert_allclose(a.std(axis=0), np.exp(-0.4), rtol=0.03)


def test_numpy_weights_follow_training_updates():
    policy = _policy(FEATURES, CONTINUOUS)
    obs = _obs(policy)
    with torch.no_grad():
        policy(obs)  # builds the NumPy views
        for p in policy.parameters():
            p.mul_(1.5)  # in place, as the optimiser updates them
        _, values, _ = policy(obs, deterministic=True)
        ref = policy.predict_values(obs)
    np.testing.assert_allclose(values.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pool", [1, 2, 4])
def test_pooled_flatten_pixels_numpy_and_torch_agree(pool):
    policy = _policy(PIXELS, DISCRETE, features_extractor_class=PooledFlatten,
                     features_extractor_kwargs={"pool": pool})
    assert policy.features_extractor.features_dim == 4 * (64 // pool) ** 2
    obs = _obs(policy, n=4)
    obs_t = obs.permute(0, 3, 1, 2)  # SB3 feeds channel-first images to the policy
    with torch.no_grad():
        actions, values, log_prob = policy(obs_t)
        assert policy._numpy_plan() is not None  # pooled pixels take the NumPy path
        ref_values, ref_log_prob, _ = ActorCriticPolicy.evaluate_actions(policy, obs_t, actions)
        det, _, _ = policy(obs_t, deterministic=True)
        ref_det = policy.get_distribution(obs_t).get_actions(deterministic=True)
    np.testing.assert_allclose(values.numpy(), ref_values.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(log_prob.numpy(), ref_log_prob.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(det.numpy(), ref_det.numpy())
    pooled = policy.features_extractor(obs_t.float() / 255.0)
    manual = obs_t.float().div(255.0).reshape(4, 4, 64 // pool, pool, 64 // pool, pool).mean(dim=(3, 5)).flatten(1)
    torch.testing.assert_close(pooled, manual)
    # Training's path: raw pixels pooled, then scaled (what SB3's extract_features + forward would give).
    torch.testing.assert_close(policy.extract_features(obs_t), manual)


@pytest.mark.parametrize("pool,full_rows", [(4, 8), (2, 6)])
def test_pooled_flatten_keeps_bottom_rows_unpooled(pool, full_rows):
    """The indicator bar's rows reach the network pixel by pixel, after the pooled view, on every path."""
    policy = _policy(PIXELS, CONTINUOUS, features_extractor_class=PooledFlatten,
                     features_extractor_kwargs={"pool": pool, "full_rows": full_rows})
    rows = 64 - full_rows
    assert policy.features_extractor.features_dim == 4 * (rows // pool) * (64 // pool) + 4 * full_rows * 64
    obs_t = _obs(policy, n=3)  # channel-first, as SB3 hands images to the policy
    x = obs_t.float() / 255.0
    h = rows // pool
    view = x[:, :, :h * pool].reshape(3, 4, h, pool, 64 // pool, pool).mean(dim=(3, 5)).flatten(1)
    manual = torch.cat([view, x[:, :, rows:].flatten(1)], dim=1)
    torch.testing.assert_close(policy.features_extractor(x), manual)
    torch.testing.assert_close(policy.extract_features(obs_t), manual)
    with torch.no_grad():
        actions, values, log_prob = policy(obs_t)
        assert policy._numpy_plan() is not None
        ref_values, ref_log_prob, _ = ActorCriticPolicy.evaluate_actions(policy, obs_t, actions)
    np.testing.assert_allclose(values.numpy(), ref_values.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(log_prob.numpy(), ref_log_prob.numpy(), rtol=1e-4, atol=1e-4)
    # A change in the bar's pixels alone changes the features (pooling would have averaged it in).
    bumped = obs_t.clone()
    bumped[:, :, -1, 8] = 255 - bumped[:, :, -1, 8]
    assert not torch.equal(policy.extract_features(bumped)[:, -4 * full_rows * 64:],
                           policy.extract_features(obs_t)[:, -4 * full_rows * 64:])
    with pytest.raises(ValueError, match="full_rows"):
        PooledFlatten(policy.observation_space, pool=pool, full_rows=64)


def test_pooled_flatten_rejects_flat_observations():
    with pytest.raises(ValueError, match="image observations"):
        PooledFlatten(FEATURES, pool=2)
