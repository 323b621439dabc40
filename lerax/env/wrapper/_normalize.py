"""Normalise observations and rewards with running statistics."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Key

from lerax.space import AbstractSpace, Box

from .._abstract import AbstractEnv, AbstractEnvState
from ._abstract import (
    AbstractSpacePreservingWrapper,
    AbstractWrapper,
    AbstractWrapperState,
    reset_episode,
)


class RunningMeanStd(eqx.Module):
    """Running mean and (population) variance of a stream of arrays.

    Attributes:
        mean: Mean of the values seen.
        var: Variance of the values seen (divided by `count`, not `count - 1`).
        count: Number of values seen (float32).
    """

    mean: Float[Array, "*shape"]
    var: Float[Array, "*shape"]
    count: Float[Array, ""]

    @staticmethod
    def empty(shape: tuple[int, ...]) -> RunningMeanStd:
        """Statistics of no values: `count = 0` (the first update overwrites `mean`/`var`)."""
        return RunningMeanStd(jnp.zeros(shape), jnp.ones(shape), jnp.zeros(()))

    def update(self, value: Float[Array, "*shape"], axis_name: Any = None) -> RunningMeanStd:
        """Merge one value (per vmapped member) into the statistics.

        With `axis_name=None` the value is a batch of one. Otherwise the batch is
        the values of every member of the `jax.vmap(..., axis_name=axis_name)` (or
        `shard_map`) axis, pooled with `lax.pmean`/`lax.psum`; given identical
        statistics, every member then ends with identical statistics. The merge is
        Chan et al.'s parallel update of (mean, M2, count).
        """
        value = value.astype(self.mean.dtype)
        if axis_name is None:
            batch_mean, batch_var, batch_count = value, jnp.zeros_like(value), 1.0
        else:
            batch_mean = jax.lax.pmean(value, axis_name)
            batch_var = jax.lax.pmean(jnp.square(value - batch_mean), axis_name)
            batch_count = jax.lax.psum(1.0, axis_name)
        delta = batch_mean - self.mean
        count = self.count + batch_count
        mean = self.mean + delta * (batch_count / count)
        m2 = self.var * self.count + batch_var * batch_count
        m2 = m2 + jnp.square(delta) * (self.count * batch_count / count)
        return RunningMeanStd(mean, m2 / count, count)

    def first(self) -> RunningMeanStd:
        """The first member's statistics of a batch (`count`'s axes are the batch
        axes). For statistics pooled with an `axis_name`, where every member holds
        the same statistics of all members' values; unbatched ones are returned."""
        index = (0,) * self.count.ndim
        return RunningMeanStd(self.mean[index], self.var[index], self.count[index])

    def pooled(self) -> RunningMeanStd:
        """The statistics of all values seen by a batch of statistics.

        `count`'s axes are the batch axes (e.g. `num_envs` for the per-env
        statistics of a `NormalizeObservation` stepped under `vmap`); they are
        merged (weighted by count) into one set of statistics of the value shape.
        Unbatched statistics are returned unchanged.
        """
        axes = tuple(range(self.count.ndim))
        if not axes:
            return self
        count = jnp.sum(self.count)
        weight = self.count.reshape(self.count.shape + (1,) * (self.mean.ndim - len(axes)))
        weight = weight / jnp.maximum(count, 1.0)
        mean = jnp.sum(weight * self.mean, axis=axes)
        var = jnp.sum(weight * (self.var + jnp.square(self.mean - mean)), axis=axes)
        return RunningMeanStd(mean, var, count)


def _scalar_parameter(
    value: ArrayLike, name: str, owner: str, *, unit_interval: bool = False
) -> Float[Array, ""]:
    """A float32 scalar array; checked (when concrete) to be positive, or in [0, 1]."""
    array = jnp.asarray(value, jnp.float32)
    if isinstance(array, jax.core.Tracer):  # built inside a traced function: no check
        return array
    if unit_interval:
        accepted, ok = "a scalar in [0, 1]", array.shape == () and 0.0 <= float(array) <= 1.0
    else:
        accepted, ok = "a positive scalar", array.shape == () and float(array) > 0.0
    if not ok:
        raise ValueError(f"{owner}: `{name}` must be {accepted}; got {value!r}.")
    return array


class NormalizeObservationState(AbstractWrapperState):
    """State of `NormalizeObservation`: the inner state and the observation statistics."""

    env_state: AbstractEnvState
    statistics: RunningMeanStd


class NormalizeObservation(AbstractWrapper[NormalizeObservationState]):
    """Standardise observations with their running mean and variance.

    `reset` starts new statistics from the first observation; each `step` merges
    the observation it returns into them; then the observation is returned as
    `clip((obs - mean) / sqrt(var + epsilon), -clip, clip)` (float32).
    `reset_episode` (an outer `AutoReset`) keeps the statistics and normalises
    the new episode's first observation without merging it.
    `info["final_observation"]`, when present (an inner `AutoReset`), is
    normalised with the same statistics, not merged.

    With `axis_name`, call `reset` and `step` under
    `jax.vmap(..., axis_name=axis_name)`: the statistics are pooled across the
    vmapped envs and identical in all of them. The observation space becomes an
    unbounded float32 `Box` of the same shape.

    Args:
        env: The environment to wrap (`Box` observations).
        epsilon: Added to the variance, positive.
        clip: Normalised observations are clipped to `[-clip, clip]`, positive.
        axis_name: The vmap axis name to pool statistics over, or `None`.

    Raises:
        TypeError: if the observation space is not a `Box`.
        ValueError: for a non-positive `epsilon` or `clip`.
    """

    env: AbstractEnv
    epsilon: Float[Array, ""]
    clip: Float[Array, ""]
    axis_name: Any = eqx.field(static=True)

    def __init__(
        self,
        env: AbstractEnv,
        epsilon: float | Float[ArrayLike, ""] = 1e-8,
        clip: float | Float[ArrayLike, ""] = 10.0,
        axis_name: Any = None,
    ):
        if not isinstance(env.observation_space, Box):
            raise TypeError(
                f"NormalizeObservation: the observation space must be a Box, "
                f"got {env.observation_space!r}."
            )
        self.env = env
        self.epsilon = _scalar_parameter(epsilon, "epsilon", "NormalizeObservation")
        self.clip = _scalar_parameter(clip, "clip", "NormalizeObservation")
        self.axis_name = axis_name

    @property
    def observation_space(self) -> Box:
        return Box(-jnp.inf, jnp.inf, shape=self.env.observation_space.shape)

    @property
    def action_space(self) -> AbstractSpace:
        return self.env.action_space

    def _normalize(self, statistics: RunningMeanStd, observation: Array) -> Float[Array, "..."]:
        scaled = (observation - statistics.mean) / jnp.sqrt(statistics.var + self.epsilon)
        return jnp.clip(scaled, -self.clip, self.clip)

    def reset(self, *, key: Key[Array, ""]) -> tuple[NormalizeObservationState, Array]:
        env_state, observation = self.env.reset(key=key)
        statistics = RunningMeanStd.empty(observation.shape).update(observation, self.axis_name)
        state = NormalizeObservationState(env_state, statistics)
        return state, self._normalize(statistics, observation)

    def reset_episode(
        self, state: NormalizeObservationState, *, key: Key[Array, ""]
    ) -> tuple[NormalizeObservationState, Array]:
        env_state, observation = reset_episode(self.env, state.env_state, key=key)
        new_state = NormalizeObservationState(env_state, state.statistics)
        return new_state, self._normalize(state.statistics, observation)

    def step(
        self, state: NormalizeObservationState, action: Array, *, key: Key[Array, ""]
    ) -> tuple[
        NormalizeObservationState,
        Array,
        Float[Array, ""],
        Bool[Array, ""],
        Bool[Array, ""],
        dict[str, Any],
    ]:
        env_state, observation, reward, terminated, truncated, info = self.env.step(
            state.env_state, action, key=key
        )
        statistics = state.statistics.update(observation, self.axis_name)
        if "final_observation" in info:
            final = self._normalize(statistics, info["final_observation"])
            info = {**info, "final_observation": final}
        new_state = NormalizeObservationState(env_state, statistics)
        return (
            new_state,
            self._normalize(statistics, observation),
            reward,
            terminated,
            truncated,
            info,
        )


class NormalizeRewardState(AbstractWrapperState):
    """State of `NormalizeReward`.

    Attributes:
        env_state: The inner environment's state.
        discounted_return: `G <- gamma * G * (1 - terminated) + reward`.
        statistics: Running statistics of `discounted_return`.
    """

    env_state: AbstractEnvState
    discounted_return: Float[Array, ""]
    statistics: RunningMeanStd


class NormalizeReward(AbstractSpacePreservingWrapper[NormalizeRewardState]):
    """Scale rewards by the running std of a discounted return (Gymnasium semantics).

    Each step updates `G <- gamma * G * (1 - terminated) + reward` (reset to 0 only
    by `terminated`, as in Gymnasium), merges `G` into running statistics, then
    returns `clip(reward / sqrt(var(G) + epsilon), -clip, clip)` (the mean is not
    subtracted). Unlike Gymnasium, the statistics start empty rather than with a
    prior of variance 1 and count 1e-4, and the reward is clipped
    (`clip=jnp.inf` disables it). The reward before scaling is returned in
    `info["raw_reward"]` (kept from an inner `NormalizeReward` if there is one):
    lerax's algorithms learn from the scaled reward and report episode returns,
    and give callbacks' `on_step`, the raw one. `reset_episode` (an outer `AutoReset`) keeps
    `G` and the statistics; only `reset` starts them afresh. With `axis_name`,
    as for `NormalizeObservation`, the statistics are pooled across the vmapped
    envs.

    Args:
        env: The environment to wrap.
        gamma: Discount of the return, in `[0, 1]`.
        epsilon: Added to the variance, positive.
        clip: Scaled rewards are clipped to `[-clip, clip]`, positive.
        axis_name: The vmap axis name to pool statistics over, or `None`.

    Raises:
        ValueError: for `gamma` outside `[0, 1]` or a non-positive `epsilon`/`clip`.
    """

    env: AbstractEnv
    gamma: Float[Array, ""]
    epsilon: Float[Array, ""]
    clip: Float[Array, ""]
    axis_name: Any = eqx.field(static=True)

    def __init__(
        self,
        env: AbstractEnv,
        gamma: float | Float[ArrayLike, ""] = 0.99,
        epsilon: float | Float[ArrayLike, ""] = 1e-8,
        clip: float | Float[ArrayLike, ""] = 10.0,
        axis_name: Any = None,
    ):
        self.env = env
        self.gamma = _scalar_parameter(gamma, "gamma", "NormalizeReward", unit_interval=True)
        self.epsilon = _scalar_parameter(epsilon, "epsilon", "NormalizeReward")
        self.clip = _scalar_parameter(clip, "clip", "NormalizeReward")
        self.axis_name = axis_name

    def reset(self, *, key: Key[Array, ""]) -> tuple[NormalizeRewardState, Array]:
        env_state, observation = self.env.reset(key=key)
        state = NormalizeRewardState(env_state, jnp.zeros(()), RunningMeanStd.empty(()))
        return state, observation

    def reset_episode(
        self, state: NormalizeRewardState, *, key: Key[Array, ""]
    ) -> tuple[NormalizeRewardState, Array]:
        env_state, observation = reset_episode(self.env, state.env_state, key=key)
        new_state = NormalizeRewardState(env_state, state.discounted_return, state.statistics)
        return new_state, observation

    def step(
        self, state: NormalizeRewardState, action: Array, *, key: Key[Array, ""]
    ) -> tuple[
        NormalizeRewardState,
        Array,
        Float[Array, ""],
        Bool[Array, ""],
        Bool[Array, ""],
        dict[str, Any],
    ]:
        env_state, observation, reward, terminated, truncated, info = self.env.step(
            state.env_state, action, key=key
        )
        discounted_return = state.discounted_return * self.gamma * (1.0 - terminated) + reward
        statistics = state.statistics.update(discounted_return, self.axis_name)
        scaled = reward / jnp.sqrt(statistics.var + self.epsilon)
        scaled = jnp.clip(scaled, -self.clip, self.clip)
        info = {"raw_reward": reward, **info}
        new_state = NormalizeRewardState(env_state, discounted_return, statistics)
        return new_state, observation, scaled, terminated, truncated, info


def find_observation_normalization(
    env: AbstractEnv, env_state: AbstractEnvState
) -> tuple[NormalizeObservation, NormalizeObservationState] | None:
    """The outermost `NormalizeObservation` layer of `env` and its state, or `None`.

    Args:
        env: An environment, wrapped or not.
        env_state: Its state (any leading batch axes).
    """
    while isinstance(env, AbstractWrapper):
        if isinstance(env, NormalizeObservation):
            return env, env_state
        env, env_state = env.env, env_state.env_state
    return None


def has_observation_normalization(env: AbstractEnv) -> bool:
    """Whether `env` has a `NormalizeObservation` layer (a static fact of the env)."""
    while isinstance(env, AbstractWrapper):
        if isinstance(env, NormalizeObservation):
            return True
        env = env.env
    return False


def without_normalization(env: AbstractEnv) -> AbstractEnv:
    """`env` with its `NormalizeObservation` and `NormalizeReward` layers removed.

    The other wrappers stay, in their order. Evaluate a policy trained behind the
    normalisation layers on this env (rewards in the task's own units), with the
    policy that `lerax.policy.freeze_normalization` returns.
    """
    if not isinstance(env, AbstractWrapper):
        return env
    inner = without_normalization(env.env)
    if isinstance(env, NormalizeObservation | NormalizeReward):
        return inner
    return eqx.tree_at(lambda wrapper: wrapper.env, env, inner)
