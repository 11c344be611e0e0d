"""Actor-critic policies for PPO: SB3's, with a cheaper rollout-time forward pass, and a pooled pixel extractor.

During rollout collection SB3 calls ``policy(obs)`` once per vector step for the actions, values and
log-probabilities. Its ``forward`` builds a ``torch.distributions`` object (with argument validation)
each call, which costs more than the network itself for small MLPs. :class:`FastActorCriticPolicy`
computes the same quantities with plain array operations for the Gaussian (continuous) and categorical
(discrete) action distributions, in NumPy for flat observations and dense layers; everything else,
training (``evaluate_actions``), ``predict`` and saving included, is SB3's ``ActorCriticPolicy`` unchanged. Other distributions fall back to SB3's code.

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
    gradients, on the CPU, for flat (non-image) observations and dense layers, the forward pass runs in
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
                return self._numpy_forward(plan, obs.numpy(), deterministic, gaussian)
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

    # ------------------------------------------------------------------ NumPy inference
    def _numpy_plan(self) -> dict | None:
        """NumPy views of the weights and the layer recipe, or None where the network is not plain dense."""
        plan = getattr(self, "_np_plan", None)
        if plan is not None and all(p.data_ptr() == ptr for p, ptr in plan["params"]):
            return plan
        if getattr(self, "_np_unsupported", False):
            return None
        extractor = self.features_extractor
        # Flat (feature) observations only: image networks are big enough for torch's kernels to pay off,
        # and NumPy's BLAS threads would compete with the env workers for the cores.
        if not self.share_features_extractor or not isinstance(extractor, FlattenExtractor) \
                or self.device.type != "cpu" or not isinstance(self.observation_space, gym.spaces.Box) \
                or is_image_space(self.observation_space):
            self._np_unsupported = True
            return None

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
            "pi": pi + head_pi, "vf": vf + head_vf, "params": params,
            "log_std": self.log_std.detach().numpy() if isinstance(getattr(self, "log_std", None), torch.Tensor) else None,
        }
        return plan

    def _numpy_forward(self, plan: dict, obs: np.ndarray, deterministic: bool, gaussian: bool):
        n = obs.shape[0]
        x = obs.astype(np.float32).reshape(n, -1)
        out = _run(plan["pi"], x)
        values = _run(plan["vf"], x)
        rng = getattr(self, "_np_rng", None)
        if rng is None:
            rng = self._np_rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,))))
        if gaussian:
            log_std = np.broadcast_to(plan["log_std"], out.shape)
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
        return torch.from_numpy(actions), torch.from_numpy(values), torch.from_numpy(log_prob.astype(np.float32))


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

    Accepts channel-last or channel-first images (SB3 transposes channel-last images before the policy).
    Pixel values arrive scaled to [0, 1] by SB3's preprocessing.
    """

    def __init__(self, observation_space: gym.spaces.Box, pool: int = 2) -> None:
        pool = int(pool)
        if pool < 1:
            raise ValueError(f"pool: must be >= 1, got {pool}")
        shape = observation_space.shape
        if len(shape) != 3:
            raise ValueError(f"PooledFlatten: needs image observations (3 axes), got shape {shape}")
        # SB3 hands the policy channel-first images (VecTransposeImage); take the smallest axis as channels.
        channels_first = is_image_space(observation_space, check_channels=True, normalized_image=False) and \
            shape[0] <= shape[-1]
        c, h, w = shape if channels_first else (shape[2], shape[0], shape[1])
        super().__init__(observation_space, features_dim=c * (h // pool) * (w // pool))
        self.pool = pool
        self.channels_first = channels_first
        self._pool = nn.AvgPool2d(pool) if pool > 1 else nn.Identity()

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        x = observations if self.channels_first else observations.permute(0, 3, 1, 2)
        return torch.flatten(self._pool(x), start_dim=1)


#: Config ``ppo.policy`` name -> policy class.
POLICIES: dict[str, type[ActorCriticPolicy]] = {"MlpPolicy": FastActorCriticPolicy, "CnnPolicy": FastCnnPolicy}
