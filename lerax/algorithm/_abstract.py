"""`AbstractAlgorithm`: the ONE training-loop driver every algorithm plugs into."""

from __future__ import annotations

import abc
import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Int, Key, PyTree

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
    as_callback,
)
from lerax.env import AbstractEnv
from lerax.env.wrapper import AutoReset
from lerax.policy import AbstractPolicy

from ._checks import check_learn_arguments
from ._control import check_control
from ._driver import open_scope, run_in_scope
from ._hyperparameters import hyperparameter_arrays, hyperparameters
from ._members import any_member, keep_stopped
from ._programs import (
    check_timesteps,
    compiled_init,
    compiled_learn,
    compiled_train,
    compiled_with_callbacks,
)
from ._resume_checks import check_resume
from ._sharding import check_env_sharding, constrain_envs
from ._train_state import AbstractAlgorithmState, TrainState


class AbstractAlgorithm(eqx.Module):
    """A reinforcement-learning algorithm driven by one jit-compiled loop.

    Subclasses provide the algorithm-specific pieces (`init_algorithm`,
    `iteration`); this class owns the loop: start-up, callbacks, stopping, counters
    and keys. Public entry points:

    * `learn(env, policy, total_timesteps, *, key, callback=None) -> policy`
    * `init(env, policy, total_timesteps, *, key, callback=None) -> TrainState`
    * `train(state, num_iterations=None, *, callback=None) -> TrainState`

    `learn` is `init` followed by `train`, compiled as one program. The whole loop is
    a `lax.while_loop` over iterations; it stops when the planned iterations ran or
    any callback's `continue_training` returned False. Under the user's
    `jax.vmap(learn)`, each member stops on its own: its state is frozen while the
    others go on.

    Keys: `key` is split once into the training stream and the callbacks' stream, so
    callbacks never change what is trained.
    """

    num_envs: eqx.AbstractVar[int]

    @property
    @abc.abstractmethod
    def steps_per_iteration(self) -> int:
        """Environment steps per iteration, summed over envs."""

    @abc.abstractmethod
    def init_algorithm(
        self, env: AbstractEnv, policy: AbstractPolicy, *, key: Key[Array, ""]
    ) -> tuple[PyTree, AbstractAlgorithmState]:
        """Create the optimizer state and the algorithm-specific state.

        Returns:
            `(opt_state, algorithm_state)`.
        """

    @abc.abstractmethod
    def iteration(
        self,
        state: TrainState,
        callback: AbstractCallback,
        *,
        key: Key[Array, ""],
        callback_key: Key[Array, ""],
    ) -> tuple[TrainState, dict[str, Array]]:
        """Run one iteration: collect experience (calling `callback.on_step` once per
        env step via `lerax.algorithm.step_envs`) and update the policy.

        It must update `policy`, `opt_state`, `env_state`, `observation`,
        `algorithm_state`, `callback_step_state`, `num_timesteps` and `num_episodes`;
        the driver updates the iteration counter, keys and per-run callback state.

        Returns:
            `(state, training_log)`, the log a flat dict of scalar arrays.
        """

    @abc.abstractmethod
    def optimizer_settings(self) -> dict[str, Any]:
        """The optimizer this algorithm trains with, as it builds it.

        Reported with `hyperparameters` (and so logged with every run), so that a run
        records the optimizer it actually used. An implementation must read the very
        constants and fields its optax optimizer is built from, so the report cannot
        drift from the optimizer.

        Returns:
            A flat dict of Python values with the keys:

            * `optimizer`: the scaling rule, `"adam"` or `"rmsprop"`;
            * `optimizer/eps`: the epsilon of the scaling rule's denominator;
            * `optimizer/decay`: RMSprop's squared-gradient averaging factor (RMSprop
              only);
            * `learning_rate_schedule`: `"linear"` when the learning rate is annealed
              to 0 over the planned iterations, `"constant"` otherwise.

            Gradient clipping, where the algorithm clips, is its `max_grad_norm`
            field, already among the hyper-parameters.
        """

    def hyperparameters(self) -> dict[str, Any]:
        """The algorithm's configuration as Python values (traced arrays left out).

        Fields of injected components (e.g. `target_update`) are included as
        `<field>/<name>`, with `<field>` giving the component's class name; the
        optimizer is described by `optimizer_settings`.
        """
        return {**hyperparameters(self), **self.optimizer_settings()}

    def hyperparameter_arrays(self, env: AbstractEnv) -> dict[str, Array]:
        """Numeric hyper-parameters of the algorithm (its components included, as in
        `hyperparameters`) and the env as scalar arrays (traced under `vmap`, so every
        member reports its own values)."""
        return hyperparameter_arrays(self, env)

    # ------------------------------------------------------------------ public API

    def learn(
        self,
        env: AbstractEnv,
        policy: AbstractPolicy,
        total_timesteps: int,
        *,
        key: Key[Array, ""],
        callback: AbstractCallback | list[AbstractCallback] | None = None,
        env_sharding: jax.sharding.NamedSharding | None = None,
    ) -> AbstractPolicy:
        """Train `policy` on `env` for `total_timesteps` env steps and return it.

        Args:
            env: The environment.
            policy: The initial policy.
            total_timesteps: Budget of env steps summed over envs; rounded down to a
                whole number of iterations (at least one).
            key: PRNG key of the run.
            callback: None, a callback, or a list of callbacks.
            env_sharding: Shard the `num_envs` axis across devices, e.g.
                `NamedSharding(mesh, PartitionSpec("envs"))` (see
                `lerax.algorithm._sharding`); None keeps the default placement.

        Returns:
            The trained policy.

        Raises:
            TypeError: if `key` is not a PRNG key, `env` not an `AbstractEnv`, `policy`
                not an `AbstractPolicy`, `callback` not None, a callback or a list of
                callbacks, or `total_timesteps` not an int (before compiling).
            ValueError: if `total_timesteps` is not positive, or `policy` was built
                for another observation or action space than `env`'s.
        """
        check_learn_arguments(f"{type(self).__name__}.learn", env, policy, key)
        callback = as_callback(callback)
        total_timesteps = check_timesteps(total_timesteps)
        env_sharding = check_env_sharding(env_sharding, self.num_envs)
        scope = open_scope(self, callback, env, total_timesteps)
        state = run_in_scope(
            scope, compiled_learn, self, env, policy, total_timesteps, key, callback, env_sharding
        )
        return state.policy

    def init(
        self,
        env: AbstractEnv,
        policy: AbstractPolicy,
        total_timesteps: int,
        *,
        key: Key[Array, ""],
        callback: AbstractCallback | list[AbstractCallback] | None = None,
        env_sharding: jax.sharding.NamedSharding | None = None,
    ) -> TrainState:
        """Create the `TrainState` of a new run (envs reset, callback states reset).

        Args: as `learn`.

        Returns:
            The initial `TrainState`, planned for `total_timesteps // steps_per_iteration`
            iterations.
        """
        check_learn_arguments(f"{type(self).__name__}.init", env, policy, key)
        callback = as_callback(callback)
        total_timesteps = check_timesteps(total_timesteps)
        env_sharding = check_env_sharding(env_sharding, self.num_envs)
        return compiled_init(self, env, policy, total_timesteps, key, callback, env_sharding)

    def train(
        self,
        state: TrainState,
        num_iterations: int | Int[Array, ""] | None = None,
        *,
        callback: AbstractCallback | list[AbstractCallback] | None = None,
        env_sharding: jax.sharding.NamedSharding | None = None,
    ) -> TrainState:
        """Continue a run for `num_iterations` more iterations (default: until the
        planned `state.total_iterations`), or until a callback stops it.

        Calls `on_training_start` first and `on_training_end` last. Training from a
        state saved at iteration k gives bitwise the same result as never stopping.

        Returns:
            The new `TrainState`; `state.iteration`, `state.num_timesteps` and
            `state.stopped` tell what actually ran.
        """
        callback = as_callback(callback)
        check_resume(self, state, callback)
        if num_iterations is None:
            until = state.total_iterations
        else:
            until = state.iteration + jnp.asarray(num_iterations, dtype=jnp.int32)
        total = state.total_iterations * self.steps_per_iteration
        if isinstance(total, jax.core.Tracer):
            total = None
        env_sharding = check_env_sharding(env_sharding, self.num_envs)
        scope = open_scope(self, callback, state.env, None if total is None else int(total))
        return run_in_scope(scope, compiled_train, self, state, until, callback, env_sharding)

    def with_callbacks(
        self,
        state: TrainState,
        callback: AbstractCallback | list[AbstractCallback] | None,
    ) -> TrainState:
        """Give `state` fresh states for another set of callbacks.

        Use it to continue a run (e.g. loaded from a checkpoint) with callbacks
        other than the ones it was started with. Only the callbacks' states change;
        since callbacks draw from their own key stream, what is trained does not.
        """
        callback = as_callback(callback)
        total = state.total_iterations * self.steps_per_iteration
        if isinstance(total, jax.core.Tracer):
            raise TypeError("with_callbacks needs a concrete TrainState (call it outside jit).")
        return compiled_with_callbacks(self, state, int(total), callback)

    def _fresh_callback_states(self, state: TrainState, total_timesteps: int, callback):
        ctx = ResetContext(
            env=state.env,
            policy=state.policy,
            total_timesteps=total_timesteps,
            num_envs=self.num_envs,
        )
        reset_key, step_key, callback_key = jr.split(state.callback_key, 3)
        return dataclasses.replace(
            state,
            callback_state=callback.reset(ctx, key=reset_key),
            callback_step_state=jax.vmap(lambda k: callback.step_reset(ctx, key=k))(
                jr.split(step_key, self.num_envs)
            ),
            callback_key=callback_key,
        )

    # ------------------------------------------------------------------ the loop

    def _init_state(
        self,
        env: AbstractEnv,
        policy: AbstractPolicy,
        total_timesteps: int,
        key: Key[Array, ""],
        callback: AbstractCallback,
    ) -> TrainState:
        train_key, callback_key = jr.split(key)
        reset_key, algo_key, train_key = jr.split(train_key, 3)
        env_state, observation = jax.vmap(lambda k: AutoReset(env).reset(key=k))(
            jr.split(reset_key, self.num_envs)
        )
        opt_state, algorithm_state = self.init_algorithm(env, policy, key=algo_key)
        total_iterations = max(total_timesteps // self.steps_per_iteration, 1)
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
            episode_progress=EpisodeProgress.zeros(self.num_envs),
            episodes=EpisodeStatistics.empty(
                self.steps_per_iteration // self.num_envs, self.num_envs
            ),
        )
        return self._fresh_callback_states(state, total_timesteps, callback)

    def _training_context(
        self, state: TrainState, total_timesteps: Int[Array, ""]
    ) -> TrainingContext:
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
            hyperparameters=self.hyperparameter_arrays(state.env),
            train_state=state,
        )

    def _run(
        self,
        state: TrainState,
        until: Int[Array, ""],
        callback: AbstractCallback,
        env_sharding: jax.sharding.NamedSharding | None = None,
        crossings: bool = False,
    ):
        budget = state.total_iterations * self.steps_per_iteration

        start_key, callback_key = jr.split(state.callback_key)
        callback_state = callback.on_training_start(
            self._training_context(state, budget), key=start_key
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
                new = self._one_iteration(s, callback, budget)
                if crossings:  # Ctrl-C stops the program after this iteration
                    new, next_check = check_control(new, next_check)
            return constrain_envs(keep_stopped(~is_active, s, new), env_sharding), next_check

        first_check = state.iteration + 1
        state, _ = jax.lax.while_loop(
            lambda c: any_member(active(c[0])), body, (state, first_check)
        )

        end_key, callback_key = jr.split(state.callback_key)
        return dataclasses.replace(
            state,
            callback_key=callback_key,
            callback_state=callback.on_training_end(
                self._training_context(state, budget), key=end_key
            ),
        )

    def _one_iteration(self, state: TrainState, callback: AbstractCallback, budget) -> TrainState:
        key, iteration_key = jr.split(state.key)
        callback_key, step_cb_key, iter_cb_key, stop_cb_key = jr.split(state.callback_key, 4)
        state, training_log = self.iteration(
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
