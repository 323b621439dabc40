"""The training loop every algorithm plugs into, as functions of the algorithm.

`AbstractAlgorithm`'s programs (`_programs.py`) call these; they use only the
algorithm's public contract (`num_envs`, `steps_per_iteration`, `init_algorithm`,
`iteration`, `hyperparameter_arrays`), so an algorithm is its hyper-parameters and
its iteration, and the loop is written once:

* `init_state`: reset the envs, initialise the algorithm and the callbacks;
* `fresh_callback_states`: new states for a (possibly other) callback list;
* `run`: `on_training_start`, a `lax.while_loop` of `one_iteration` until the
  planned iteration or a callback's stop, `on_training_end`.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Int, Key

from lerax import host
from lerax.callback import (
    AbstractCallback,
    EmptyCallbackState,
    EmptyCallbackStepState,
    EpisodeProgress,
    EpisodeStatistics,
    IterationContext,
    ResetContext,
    TrainingContext,
)
from lerax.env import AbstractEnv
from lerax.env.wrapper import ENV_AXIS, AutoReset
from lerax.policy import AbstractPolicy

from ._control import check_control
from ._members import any_member, keep_stopped
from ._sharding import constrain_envs
from ._train_state import TrainState


def fresh_callback_states(
    algorithm, state: TrainState, total_timesteps: int, callback: AbstractCallback
) -> TrainState:
    """`state` with `callback`'s reset states (its whole state and one step state per
    env), drawn from the callbacks' key stream."""
    ctx = ResetContext(
        env=state.env,
        policy=state.policy,
        total_timesteps=total_timesteps,
        num_envs=algorithm.num_envs,
    )
    reset_key, step_key, callback_key = jr.split(state.callback_key, 3)
    return dataclasses.replace(
        state,
        callback_state=callback.reset(ctx, key=reset_key),
        callback_step_state=jax.vmap(lambda k: callback.step_reset(ctx, key=k))(
            jr.split(step_key, algorithm.num_envs)
        ),
        callback_key=callback_key,
    )


def init_state(
    algorithm,
    env: AbstractEnv,
    policy: AbstractPolicy,
    total_timesteps: int,
    key: Key[Array, ""],
    callback: AbstractCallback,
) -> TrainState:
    """The `TrainState` of a new run: `key` splits into the training stream and the
    callbacks' stream (so callbacks never change what is trained)."""
    train_key, callback_key = jr.split(key)
    reset_key, algo_key, train_key = jr.split(train_key, 3)
    env_state, observation = jax.vmap(lambda k: AutoReset(env).reset(key=k), axis_name=ENV_AXIS)(
        jr.split(reset_key, algorithm.num_envs)
    )
    opt_state, algorithm_state = algorithm.init_algorithm(env, policy, key=algo_key)
    total_iterations = max(total_timesteps // algorithm.steps_per_iteration, 1)
    zero = jnp.zeros((), jnp.int32)
    state = TrainState(
        env=env,
        policy=policy,
        opt_state=opt_state,
        env_state=env_state,
        observation=observation,
        algorithm_state=algorithm_state,
        callback_state=EmptyCallbackState(),
        callback_step_state=EmptyCallbackStepState(),
        iteration=zero,
        num_timesteps=zero,
        num_episodes=zero,
        total_iterations=jnp.asarray(total_iterations, jnp.int32),
        stopped=jnp.asarray(False),
        key=train_key,
        callback_key=callback_key,
        episode_progress=EpisodeProgress.zeros(algorithm.num_envs),
        episodes=EpisodeStatistics.empty(
            algorithm.steps_per_iteration // algorithm.num_envs, algorithm.num_envs
        ),
    )
    return fresh_callback_states(algorithm, state, total_timesteps, callback)


def training_context(
    algorithm, state: TrainState, total_timesteps: Int[Array, ""]
) -> TrainingContext:
    """The context of `on_training_start` / `on_training_end`."""
    return TrainingContext(
        state=state.callback_state,
        step_state=state.callback_step_state,
        env=state.env,
        policy=state.policy,
        iteration_count=state.iteration,
        num_timesteps=state.num_timesteps,
        num_episodes=state.num_episodes,
        stopped=state.stopped,
        total_timesteps=total_timesteps,
        hyperparameters=algorithm.hyperparameter_arrays(state.env),
        train_state=state,
    )


def run(
    algorithm,
    state: TrainState,
    until: Int[Array, ""],
    callback: AbstractCallback,
    env_sharding: jax.sharding.NamedSharding | None = None,
    crossings: bool = False,
) -> TrainState:
    """Train from `state` until iteration `until` or a callback's stop.

    Under `vmap` the loop runs while any member is active; a member that stopped is
    frozen (`keep_stopped`). With `crossings`, Ctrl-C on the host stops the program
    after the running iteration (`check_control`).
    """
    budget = state.total_iterations * algorithm.steps_per_iteration

    start_key, callback_key = jr.split(state.callback_key)
    callback_state = callback.on_training_start(
        training_context(algorithm, state, budget), key=start_key
    )
    state = dataclasses.replace(
        state,
        callback_key=callback_key,
        stopped=jnp.asarray(False),
        callback_state=callback_state,
        env=callback.update_env(state.env, callback_state),
    )

    def active(s: TrainState):
        return ~s.stopped & (s.iteration < until)

    def body(carry):
        s, next_check = carry
        s = constrain_envs(s, env_sharding)
        is_active = active(s)
        with host.active_scope(is_active):
            new = one_iteration(algorithm, s, callback, budget)
            if crossings:  # Ctrl-C stops the program after this iteration
                new, next_check = check_control(new, next_check)
        return constrain_envs(keep_stopped(~is_active, s, new), env_sharding), next_check

    first_check = state.iteration + 1
    state, _ = jax.lax.while_loop(lambda c: any_member(active(c[0])), body, (state, first_check))

    end_key, callback_key = jr.split(state.callback_key)
    return dataclasses.replace(
        state,
        callback_key=callback_key,
        callback_state=callback.on_training_end(
            training_context(algorithm, state, budget), key=end_key
        ),
    )


def one_iteration(algorithm, state: TrainState, callback: AbstractCallback, budget) -> TrainState:
    """One iteration: the algorithm's `iteration` (rollout and update, with the
    callbacks' step hooks), then `on_iteration` and `continue_training`."""
    key, iteration_key = jr.split(state.key)
    callback_key, step_cb_key, iter_cb_key, stop_cb_key = jr.split(state.callback_key, 4)
    state, training_log = algorithm.iteration(
        state, callback, key=iteration_key, callback_key=step_cb_key
    )
    training_log = {**training_log, **callback.log_values(state.callback_state)}
    state = dataclasses.replace(
        state, iteration=state.iteration + 1, key=key, callback_key=callback_key
    )
    ctx = IterationContext(
        state=state.callback_state,
        step_state=state.callback_step_state,
        env=state.env,
        policy=state.policy,
        iteration_count=state.iteration,
        num_timesteps=state.num_timesteps,
        num_episodes=state.num_episodes,
        total_timesteps=budget,
        opt_state=state.opt_state,
        training_log=training_log,
        train_state=state,
        episodes=state.episodes,
    )
    callback_state = callback.on_iteration(ctx, key=iter_cb_key)
    go_on = callback.continue_training(
        dataclasses.replace(ctx, state=callback_state), key=stop_cb_key
    )
    return dataclasses.replace(
        state,
        env=callback.update_env(state.env, callback_state),
        callback_state=callback_state,
        stopped=~jnp.asarray(go_on, dtype=bool),
    )
