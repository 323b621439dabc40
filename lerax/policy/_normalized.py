"""A policy trained behind `NormalizeObservation`, made to act on the raw observations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Key, PyTree

from lerax.env import AbstractEnv
from lerax.env.wrapper import (
    RunningMeanStd,
    find_observation_normalization,
    has_observation_normalization,
)
from lerax.space import AbstractSpace

from ._abstract import AbstractPolicy


class ObservationNormalizedPolicy(AbstractPolicy):
    """`policy` acting on raw observations, standardised with frozen statistics.

    What a policy trained behind `NormalizeObservation` needs to act in the
    unwrapped env (the role of Stable-Baselines3's saved `VecNormalize`
    statistics): each observation becomes
    `clip((observation - mean) / sqrt(var + epsilon), -clip, clip)`, the
    wrapper's own formula, before `policy` sees it. The statistics are arrays of
    the module, so the policy saves and loads (`save_policy` / `load_policy`)
    and exports (`export_inference`) with them. Build it with
    `freeze_normalization` from a training run's env state.

    Args:
        policy: The policy trained on normalised observations.
        statistics: The observation statistics (one set, of the observation's shape).
        observation_space: The raw observations' space (the env without the layer).
        epsilon: Added to the variance, positive.
        clip: Normalised observations are clipped to `[-clip, clip]`, positive.

    Raises:
        TypeError: if `policy` is not an `AbstractPolicy`, `statistics` not a
            `RunningMeanStd` or `observation_space` not an `AbstractSpace`.
        ValueError: if the statistics' shape is not the observation space's.
    """

    policy: AbstractPolicy
    statistics: RunningMeanStd
    epsilon: Float[Array, ""]
    clip: Float[Array, ""]
    observation_space: AbstractSpace
    action_space: AbstractSpace

    def __init__(
        self,
        policy: AbstractPolicy,
        statistics: RunningMeanStd,
        *,
        observation_space: AbstractSpace,
        epsilon: float | Float[ArrayLike, ""] = 1e-8,
        clip: float | Float[ArrayLike, ""] = 10.0,
    ):
        owner = "ObservationNormalizedPolicy"
        for name, value, kind in (
            ("policy", policy, AbstractPolicy),
            ("statistics", statistics, RunningMeanStd),
            ("observation_space", observation_space, AbstractSpace),
        ):
            if not isinstance(value, kind):
                raise TypeError(
                    f"{owner}: `{name}` must be a {kind.__name__}, got {type(value).__name__}."
                )
        if tuple(statistics.mean.shape) != tuple(observation_space.shape):
            raise ValueError(
                f"{owner}: `statistics` must have the observation shape "
                f"{tuple(observation_space.shape)}, got {tuple(statistics.mean.shape)} "
                "(pool per-env statistics with `statistics.pooled()`)."
            )
        self.policy = policy
        self.statistics = statistics
        self.epsilon = jnp.asarray(epsilon, jnp.float32)
        self.clip = jnp.asarray(clip, jnp.float32)
        self.observation_space = observation_space
        self.action_space = policy.action_space

    def normalize(self, observation: Array) -> Float[Array, "..."]:
        """The observation as the wrapped policy was trained to see it."""
        stats = self.statistics
        scaled = (observation - stats.mean) / jnp.sqrt(stats.var + self.epsilon)
        return jnp.clip(scaled, -self.clip, self.clip)

    def predict(self, observation: Array, *, key: Key[Array, ""] | None = None) -> Array:
        return self.policy.predict(self.normalize(observation), key=key)


def freeze_normalization(
    policy: AbstractPolicy, env: AbstractEnv, env_state: PyTree
) -> AbstractPolicy:
    """The policy to deploy on `without_normalization(env)`.

    If `env` has a `NormalizeObservation` layer, `policy` (trained on its
    output) is wrapped in an `ObservationNormalizedPolicy` holding that layer's
    statistics from `env_state`, pooled over any batch axes (one set for all
    envs; a layer with an `axis_name` pooled them while training, so every env
    holds them all and the first env's are taken); otherwise `policy` is
    returned as it is. For a training run, use
    `TrainState.deployable_policy()`, which passes the run's env and env state.

    Args:
        policy: The trained policy.
        env: The env it was trained on.
        env_state: `env`'s state at the end of training (leading batch axes allowed).
    """
    if not has_observation_normalization(env):
        return policy
    layer, state = find_observation_normalization(env, env_state)
    shared = layer.axis_name is not None  # pooled over the envs while training
    statistics = state.statistics.first() if shared else state.statistics.pooled()
    statistics = jax.tree.map(jnp.asarray, statistics)
    return ObservationNormalizedPolicy(
        policy,
        statistics,
        observation_space=layer.env.observation_space,
        epsilon=layer.epsilon,
        clip=layer.clip,
    )
