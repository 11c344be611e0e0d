"""Actor-critic policies for PPO: SB3's, with a cheaper rollout-time forward pass, and a pooled pixel extractor.

During rollout collection SB3 calls ``policy(obs)`` once per vector step for the actions, values and
log-probabilities. Its ``forward`` builds a ``torch.distributions`` object (with argument validation)
each call, which costs more than the network itself for small MLPs. :class:`FastActorCriticPolicy`
computes the same quantities with plain array operations for the Gaussian (continuous) and categorical
(discrete) action distributions, in NumPy for dense layers on flat observations or on pooled images
(:class:`PooledFlatten`); everything else, training (``evaluate_actions``), ``predict`` and saving
included, is SB3's ``ActorCriticPolicy`` unchanged. Other distributions fall back to SB3's code.

:class:`PooledFlatten` is a features extractor for the 64x64 pixel stack: an average pool by ``pool``
before flattening, so the first dense layer has ``pool**2`` times fewer weights (the tutorial's MLP spends
most of its PPO update time in a 16,384-input layer).
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.distributions import CategoricalDistribution, DiagGaussianDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor, NatureCNN
from torch import nn

__all__ = ["FastActorCriticPolicy", "FastCnnPolicy", "PooledFlatten", "POLICIES"]

_LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))


_NP_ACTIVATIONS = {nn.Tanh: np.tanh, nn.ReLU: lambda x: np.maximum(x, 0.0, out=x), nn.Identity: lambda x: x}


def _gelu(x: np.ndarray) -> np.ndarray:
    return torch.nn.functional.gelu(torch.from_numpy(x)).numpy()


class FastActorCriticPolicy(ActorCriticPolicy):
    """SB3's ``ActorCriticPolicy`` whose ``forward`` (used while collecting rollouts) skips distribution objects.

    Same actions distribution, values and log-probabilities as the parent (tests compare them). Without
    gradients, on the CPU, for dense layers on flat observations or :class:`PooledFlatten` images, the forward pass runs in
    NumPy on views of the weights: for the small networks PPO uses on features, a torch call's dispatch
    costs several times the arithmetic. Sampling then uses a NumPy generator seeded
    from torch's (so ``seed`` still makes runs repeatable).
    """

    def forward(self, obs: torch.Tensor, deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        dist = self.action_dist
        gaussian = type(dist) is DiagGaussianDistribution
        if self.use_sde or not (gaussian or type(dist) is CategoricalDistribution):
            return super().forward(obs, deterministic)
        if not torch.is_grad_enabled() and isinstance(obs, torch.Tensor) and obs.device.type == "cpu":
            plan = self._numpy_plan()
            if plan is not None:
                actions, values, log_prob = self.numpy_rollout_step(plan, obs.numpy(), deterministic)
                return torch.from_numpy(actions), torch.from_numpy(values), torch.from_numpy(log_prob)
        features = self.extract_features(obs)
        if self.share_features_extractor:
            latent_pi, latent_vf = self.mlp_extractor(features)
        else:
            pi_features, vf_features = features
            latent_pi = self.mlp_extractor.forward_actor(pi_features)
            latent_vf = self.mlp_extractor.forward_critic(vf_features)
        values = self.value_net(latent_vf)
        out = self.action_net(latent_pi)
        if gaussian:
            log_std = self.log_std.expand_as(out)
            std = log_std.exp()
            actions = out if deterministic else torch.normal(out, std)
            log_prob = (-((actions - out) ** 2) / (2 * std * std) - log_std - _LOG_SQRT_2PI).sum(dim=-1)
        else:  # categorical: out are the logits
            logp = torch.log_softmax(out, dim=-1)
            actions = logp.argmax(dim=-1) if deterministic else torch.multinomial(logp.exp(), 1).squeeze(-1)
            log_prob = logp.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        return actions.reshape((-1, *self.action_space.shape)), values, log_prob

    def extract_features(self, obs, features_extractor: BaseFeaturesExtractor | None = None):
        """SB3's, except that a shared :class:`PooledFlatten` pools raw pixels before scaling them to [0, 1]
        (the same features, with 1/pool**2 of the divisions: most of a pixel PPO update was SB3 scaling the
        whole image batch)."""
        extractor = self.features_extractor if features_extractor is None else features_extractor
        if self.share_features_extractor and isinstance(extractor, PooledFlatten) and isinstance(obs, torch.Tensor) \
                and is_image_space(self.observation_space):
            return extractor.pool_flatten(obs, 1.0 / 255.0 if self.normalize_images else 1.0)
        return super().extract_features(obs, features_extractor)

    # ------------------------------------------------------------------ NumPy inference
    def _numpy_plan(self) -> dict | None:
        """NumPy views of the weights and the layer recipe, or None where the network is not plain dense."""
        plan = getattr(self, "_np_plan", None)
        if plan is not None and all(p.data_ptr() == ptr for p, ptr in plan["params"]):
            return plan
        if getattr(self, "_np_unsupported", False):
            return None
        extractor = self.features_extractor
        # Flat (feature) observations, or images through PooledFlatten: convolutional networks are big
        # enough for torch's kernels to pay off.
        pooled = isinstance(extractor, PooledFlatten)
        if not self.share_features_extractor or not (pooled or isinstance(extractor, FlattenExtractor)) \
                or self.device.type != "cpu" or not isinstance(self.observation_space, gym.spaces.Box) \
                or (is_image_space(self.observation_space) and not pooled):
            self._np_unsupported = True
            return None
        # SB3's preprocessing scales images to [0, 1]; PooledFlatten then averages pool x pool blocks.
        scale = 1.0 / 255.0 if self.normalize_images and is_image_space(self.observation_space) else 1.0
        prep = ("pool", extractor.pool, extractor.channels_first, np.float32(scale), extractor.full_rows) \
            if pooled else None

        def layers(seq: nn.Module) -> list | None:
            out = []
            for mod in seq.modules() if isinstance(seq, nn.Sequential) else [seq]:
                if mod is seq and isinstance(seq, nn.Sequential):
                    continue
                if isinstance(mod, nn.Linear):
                    out.append(("linear", mod.weight.detach().numpy().T, mod.bias.detach().numpy()))
                elif isinstance(mod, nn.GELU) and mod.approximate == "none":
                    out.append(("act", _gelu))
                elif type(mod) in _NP_ACTIVATIONS:
                    out.append(("act", _NP_ACTIVATIONS[type(mod)]))
                else:
                    return None
            return out

        pi = layers(self.mlp_extractor.policy_net)
        vf = layers(self.mlp_extractor.value_net)
        head_pi = layers(self.action_net)
        head_vf = layers(self.value_net)
        if pi is None or vf is None or head_pi is None or head_vf is None:
            self._np_unsupported = True
            return None
        params = [(p, p.data_ptr()) for p in self.parameters()]
        self._np_plan = plan = {
            "prep": prep, "pi": pi + head_pi, "vf": vf + head_vf, "params": params,
            "log_std": self.log_std.detach().numpy() if isinstance(getattr(self, "log_std", None), torch.Tensor) else None,
        }
        return plan

    def numpy_rollout_plan(self) -> dict | None:
        """What :meth:`numpy_rollout_step` needs, or None where this policy's rollout pass is not NumPy's."""
        if self.use_sde or type(self.action_dist) not in (DiagGaussianDistribution, CategoricalDistribution):
            return None
        return self._numpy_plan()

    def numpy_rollout_step(self, plan: dict, obs: np.ndarray, deterministic: bool = False):
        """``forward`` in NumPy: (actions, values ``(n, 1)``, log-probabilities ``(n,)`` float32) as arrays."""
        n = obs.shape[0]
        gaussian = type(self.action_dist) is DiagGaussianDistribution
        prep = plan["prep"]
        if prep is None:
            x = obs.astype(np.float32).reshape(n, -1)
        else:  # PooledFlatten: channel-first, block means, flattened as (c, h, w)
            _, p, channels_first, scale, k = prep
            img = obs if channels_first else obs.transpose(0, 3, 1, 2)
            rows = img.shape[2] - k
            x = _block_sums(img[:, :, :rows], p)
            x *= np.float32(scale / (p * p))
            if k:  # the bottom rows unpooled, after the pooled ones
                x = np.concatenate([x, img[:, :, rows:].reshape(n, -1).astype(np.float32) * scale], axis=1)
        out = _run(plan["pi"], x)
        values = _run(plan["vf"], x)
        rng = getattr(self, "_np_rng", None)
        if rng is None:
            rng = self._np_rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,))))
        if gaussian:
            log_std = plan["log_std"]  # (action_dim,), broadcast over the batch
            if deterministic:
                actions = out
                z2 = np.zeros_like(out)
            else:
                noise = rng.standard_normal(out.shape, dtype=np.float32)
                actions = out + np.exp(log_std) * noise
                z2 = noise * noise
            log_prob = (-0.5 * z2 - log_std - np.float32(_LOG_SQRT_2PI)).sum(axis=-1)
        else:
            top = out.max(axis=-1, keepdims=True)
            shifted = out - top
            logp = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
            if deterministic:
                actions = logp.argmax(axis=-1)
            else:
                cdf = np.cumsum(np.exp(logp), axis=-1)
                u = rng.random((n, 1)) * cdf[:, -1:]
                actions = np.minimum((cdf <= u).sum(axis=-1), out.shape[-1] - 1)
            log_prob = np.take_along_axis(logp, actions[:, None], axis=-1)[:, 0]
        actions = actions.reshape((-1, *self.action_space.shape))
        return actions, values, log_prob.astype(np.float32, copy=False)


def _block_sums(img: np.ndarray, p: int) -> np.ndarray:
    """Sums of ``p x p`` blocks of ``(n, c, H, W)`` images as float32, flattened per image as ``(c, h, w)``.

    Adds whole rows, then every p-th column: NumPy's multi-axis ``sum`` over strided axes is ~8x slower.
    """
    n, c, height, width = img.shape
    h, w = height // p, width // p
    v = img[:, :, :h * p, :w * p].reshape(n * c * h, p, w * p)
    rows = v[:, 0].astype(np.float32)
    for k in range(1, p):
        rows += v[:, k]
    r = rows.reshape(n * c * h, w, p)
    out = r[:, :, 0].copy()
    for k in range(1, p):
        out += r[:, :, k]
    return out.reshape(n, -1)


def _run(layers: list, x: np.ndarray) -> np.ndarray:
    for layer in layers:
        if layer[0] == "linear":
            x = x @ layer[1]
            x += layer[2]
        else:
            x = layer[1](x)
    return x


class FastCnnPolicy(FastActorCriticPolicy):
    """:class:`FastActorCriticPolicy` with SB3's ``NatureCNN`` extractor by default (as ``CnnPolicy``)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("features_extractor_class", NatureCNN)
        super().__init__(*args, **kwargs)


class PooledFlatten(BaseFeaturesExtractor):
    """Image observations average-pooled by ``pool`` (on height and width), then flattened.

    ``full_rows``: the bottom rows of the image are passed on unpooled, after the pooled rest (the
    features are ``[pooled rows above, full rows]``). CarRacing's indicator bar (speed, ABS, steering,
    gyro; the bottom 8 of 64 rows) draws each gauge a pixel or two wide, which pooling averages away.

    Accepts channel-last or channel-first images (SB3 transposes channel-last images before the policy).
    Pixel values arrive scaled to [0, 1] by SB3's preprocessing.
    """

    def __init__(self, observation_space: gym.spaces.Box, pool: int = 2, full_rows: int = 0) -> None:
        pool, full_rows = int(pool), int(full_rows)
        if pool < 1:
            raise ValueError(f"pool: must be >= 1, got {pool}")
        shape = observation_space.shape
        if len(shape) != 3:
            raise ValueError(f"PooledFlatten: needs image observations (3 axes), got shape {shape}")
        # SB3 hands the policy channel-first images (VecTransposeImage); take the smallest axis as channels.
        channels_first = is_image_space(observation_space, check_channels=True, normalized_image=False) and \
            shape[0] <= shape[-1]
        c, h, w = shape if channels_first else (shape[2], shape[0], shape[1])
        if not 0 <= full_rows < h:
            raise ValueError(f"full_rows: must be in [0, {h - 1}] for images {h} rows high, got {full_rows}")
        super().__init__(observation_space,
                         features_dim=c * ((h - full_rows) // pool) * (w // pool) + c * full_rows * w)
        self.pool = pool
        self.full_rows = full_rows
        self.channels_first = channels_first
        self._pool = nn.AvgPool2d(pool) if pool > 1 else nn.Identity()

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        x = observations if self.channels_first else observations.permute(0, 3, 1, 2)
        k = self.full_rows
        pooled = torch.flatten(self._pool(x[:, :, :x.shape[2] - k]), start_dim=1)
        if not k:
            return pooled
        return torch.cat([pooled, torch.flatten(x[:, :, x.shape[2] - k:], start_dim=1)], dim=1)

    def pool_flatten(self, observations: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """``forward(observations * scale)`` for raw (e.g. uint8) images, computed as block sums of whole rows
        then columns (2x faster than ``avg_pool2d`` on the CPU), scaled once at the end."""
        x = observations if self.channels_first else observations.permute(0, 3, 1, 2)
        x = x.float()
        p, k = self.pool, self.full_rows
        n, c, height, width = x.shape
        top = x[:, :, :height - k]
        h, w = (height - k) // p, width // p
        if p > 1:
            top = top[:, :, :h * p, :w * p].reshape(n * c * h, p, w * p).sum(dim=1)
            top = top.reshape(n * c * h, w, p).sum(dim=2)
        pooled = top.reshape(n, c * h * w) * (scale / (p * p))
        if not k:
            return pooled
        return torch.cat([pooled, x[:, :, height - k:].reshape(n, c * k * width) * scale], dim=1)


#: Config ``ppo.policy`` name -> policy class.
POLICIES: dict[str, type[ActorCriticPolicy]] = {"MlpPolicy": FastActorCriticPolicy, "CnnPolicy": FastCnnPolicy}
