"""`AbstractAlgorithm`: the ONE training-loop driver every algorithm plugs into."""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Int, Key, PyTree

from lerax.callback import (
    AbstractCallback,
    as_callback,
)
from lerax.env import AbstractEnv
from lerax.policy import AbstractPolicy

from ._checks import check_learn_arguments
from ._driver import open_scope, run_in_scope
from ._hyperparameters import hyperparameter_arrays, hyperparameters
from ._programs import (
    check_timesteps,
    compiled_init,
    compiled_learn,
    compiled_train,
    compiled_with_callbacks,
)
from ._resume_checks import check_resume
from ._sharding import check_env_sharding
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
