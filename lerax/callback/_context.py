"""The typed contexts passed to callback hooks."""

from __future__ import annotations

from typing import Any

import equinox as eqx
from jaxtyping import Array, Bool, Float, Int, PyTree

from lerax.env import AbstractEnv
from lerax.policy import AbstractPolicy

from ._episodes import EpisodeStatistics
from ._state import AbstractCallbackState, AbstractCallbackStepState


class ResetContext(eqx.Module):
    """Passed to `reset` (once per run) and `step_reset` (once per env).

    Attributes:
        env: The environment being trained on.
        policy: The initial policy.
        total_timesteps: The run's budget of environment steps (summed over envs).
        num_envs: Number of vectorised environments.
    """

    env: AbstractEnv
    policy: AbstractPolicy
    total_timesteps: int = eqx.field(static=True)
    num_envs: int = eqx.field(static=True)


class StepContext(eqx.Module):
    """Passed to `on_step`, once per environment step and per env (under `vmap`).

    Every array field describes ONE environment.

    Attributes:
        state: This callback's step state for this env.
        env: The environment.
        policy: The policy that chose `action` (the one being trained).
        observation: The observation the action was chosen on.
        action: The action taken.
        reward: The environment's raw reward for this step.
        next_observation: The true observation after the step (before any auto-reset).
        terminated: Whether the step reached a terminal state.
        truncated: Whether the episode was cut by a time limit.
        done: `terminated | truncated`.
        iteration_count: Index of the current training iteration.
        num_timesteps: Environment steps taken so far over all envs, this step excluded.
    """

    state: AbstractCallbackStepState
    env: AbstractEnv
    policy: AbstractPolicy
    observation: Array
    action: Array
    reward: Float[Array, ""]
    next_observation: Array
    terminated: Bool[Array, ""]
    truncated: Bool[Array, ""]
    done: Bool[Array, ""]
    iteration_count: Int[Array, ""]
    num_timesteps: Int[Array, ""]


class Evaluation(eqx.Module):
    """An evaluation of the policy, as `EvalCallback` hands it to its child callbacks
    (`IterationContext.evaluation`).

    Attributes:
        mean_return: Mean return of the evaluation's episodes.
        std_return: Their standard deviation.
        best_mean_return: The best mean return of any evaluation so far, this one
            included.
    """

    mean_return: Float[Array, ""]
    std_return: Float[Array, ""]
    best_mean_return: Float[Array, ""]


class IterationContext(eqx.Module):
    """Passed to `on_iteration` and `continue_training`, once per training iteration.

    Attributes:
        state: This callback's per-run state. For `continue_training` it is what this
            iteration's `on_iteration` returned.
        step_state: This callback's per-env step states (leading `num_envs` axis).
        env: The environment.
        policy: The policy after this iteration's update.
        iteration_count: Number of iterations completed, this one included.
        num_timesteps: Environment steps taken so far over all envs.
        num_episodes: Episodes finished so far over all envs.
        total_timesteps: The run's planned env steps (planned iterations x steps
            per iteration).
        opt_state: The optimizer state after this iteration's update.
        training_log: The algorithm's metrics for this iteration (losses, entropy,
            learning rate, ...), each a scalar array.
        train_state: The full `lerax.algorithm.TrainState` after this iteration's
            update and counters (its callback states are those from before this
            iteration's `on_iteration`). What checkpoints save.
        episodes: The episodes this iteration finished, per env, and the ones under
            way (see `EpisodeStatistics`), computed once by the training loop after
            the rollout: use them rather than counting in `on_step`.
        evaluation: Inside `EvalCallback` (for its child callbacks), the evaluation
            that triggered them; None elsewhere.
    """

    state: AbstractCallbackState
    step_state: AbstractCallbackStepState
    env: AbstractEnv
    policy: AbstractPolicy
    iteration_count: Int[Array, ""]
    num_timesteps: Int[Array, ""]
    num_episodes: Int[Array, ""]
    total_timesteps: Int[Array, ""]
    opt_state: PyTree[Any] = None
    training_log: dict[str, Array] = eqx.field(default_factory=dict)
    train_state: PyTree[Any] = None
    episodes: EpisodeStatistics | None = None
    evaluation: Evaluation | None = None


class TrainingContext(eqx.Module):
    """Passed to `on_training_start` and `on_training_end`.

    Attributes:
        state: This callback's per-run state.
        step_state: This callback's per-env step states (leading `num_envs` axis).
        env: The environment.
        policy: The current policy.
        total_timesteps: The run's budget of environment steps.
        iteration_count: Iterations completed so far.
        num_timesteps: Environment steps taken so far over all envs.
        num_episodes: Episodes finished so far over all envs.
        stopped: Whether a callback stopped training early (only meaningful at the end).
        total_timesteps: The run's planned env steps.
        hyperparameters: The algorithm's numeric hyper-parameters and the env's
            parameters (`env/<name>`), as scalar arrays: under `vmap` over a
            hyper-parameter each member sees its own value.
        train_state: The full `lerax.algorithm.TrainState` at this point.
    """

    state: AbstractCallbackState
    step_state: AbstractCallbackStepState
    env: AbstractEnv
    policy: AbstractPolicy
    iteration_count: Int[Array, ""]
    num_timesteps: Int[Array, ""]
    num_episodes: Int[Array, ""]
    stopped: Bool[Array, ""]
    total_timesteps: Int[Array, ""]
    hyperparameters: dict[str, Array] = eqx.field(default_factory=dict)
    train_state: PyTree[Any] = None
