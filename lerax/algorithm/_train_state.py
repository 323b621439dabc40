"""The full state of a training run."""

from __future__ import annotations

from typing import Any

import equinox as eqx
from jaxtyping import Array, Bool, Int, Key, PyTree

from lerax.callback import (
    AbstractCallbackState,
    AbstractCallbackStepState,
    EpisodeProgress,
    EpisodeStatistics,
)
from lerax.env import AbstractEnv
from lerax.env.wrapper import AutoReset
from lerax.policy import AbstractPolicy, freeze_normalization


class AbstractAlgorithmState(eqx.Module):
    """Algorithm-specific carried state (replay buffer, target networks, ...)."""


class EmptyAlgorithmState(AbstractAlgorithmState):
    """For algorithms that carry nothing beyond the policy and optimizer state."""


class TrainState(eqx.Module):
    """Everything needed to continue a run exactly: save it, load it, train on.

    Attributes:
        env: The environment (its array parameters may change during training).
        policy: The policy being trained.
        opt_state: The optimizer state.
        env_state: The environments' states, leading axis `num_envs`.
        observation: The current observations, leading axis `num_envs`.
        algorithm_state: Algorithm-specific state (e.g. replay buffer).
        callback_state: The callbacks' per-run state.
        callback_step_state: The callbacks' per-env states, leading axis `num_envs`.
        iteration: Iterations completed.
        num_timesteps: Environment steps taken, summed over envs.
        num_episodes: Episodes finished, summed over envs.
        total_iterations: Iterations the run is planned for (learning-rate schedules).
        stopped: Whether a callback stopped the run.
        episode_progress: The envs' unfinished episodes (return and length so far).
        episodes: The episodes the last iteration finished (for the callbacks).
        key: The training key stream (policy sampling, env steps, minibatches).
        callback_key: The callbacks' own key stream.
    """

    env: AbstractEnv
    policy: AbstractPolicy
    opt_state: PyTree[Any]
    env_state: PyTree[Any]
    observation: Array
    algorithm_state: AbstractAlgorithmState
    callback_state: AbstractCallbackState
    callback_step_state: AbstractCallbackStepState
    iteration: Int[Array, ""]
    num_timesteps: Int[Array, ""]
    num_episodes: Int[Array, ""]
    total_iterations: Int[Array, ""]
    stopped: Bool[Array, ""]
    key: Key[Array, ""]
    callback_key: Key[Array, ""]
    episode_progress: EpisodeProgress
    episodes: EpisodeStatistics

    def deployable_policy(self) -> AbstractPolicy:
        """The trained policy, ready to act on the env without normalisation layers.

        If the run's env has a `NormalizeObservation` layer, the policy is wrapped
        in an `ObservationNormalizedPolicy` with the layer's statistics as they are
        now, pooled over the envs (`lerax.policy.freeze_normalization`); evaluate
        or deploy it on `lerax.env.wrapper.without_normalization(state.env)`.
        Otherwise it is `self.policy`. Works under `jax.vmap` over members.
        """
        return freeze_normalization(self.policy, AutoReset(self.env), self.env_state)
