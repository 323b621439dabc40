"""The callback interface."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import equinox as eqx
import numpy as np
from jaxtyping import Array, Bool, Key

from lerax.env import AbstractEnv

from ._context import IterationContext, ResetContext, StepContext, TrainingContext
from ._state import AbstractCallbackState, AbstractCallbackStepState

StateType = TypeVar("StateType", bound=AbstractCallbackState)
StepStateType = TypeVar("StepStateType", bound=AbstractCallbackStepState)


class AbstractCallback(eqx.Module, Generic[StateType, StepStateType]):
    """A pure hook into the compiled training program.

    A callback is an immutable module; everything it remembers lives in the states
    its hooks return. Every hook runs INSIDE the jit-compiled training loop, so it
    must be traceable: use `jnp.where` rather than Python `if` on array values, keep
    pytree structures fixed, and touch the host only through `lerax.host`.

    Two kinds of state:

    * the per-run state (`StateType`), created by `reset` and threaded through
      `on_training_start`, `on_iteration` and `on_training_end`;
    * the per-env step state (`StepStateType`), created by `step_reset` and threaded
      through `on_step`. These two hooks are called under `jax.vmap` over envs, so
      they see ONE env; the loop stores the result with a leading env axis.

    Keys: every hook receives a key from the callbacks' own stream, split off the
    run key once at start-up. Adding, removing or reordering callbacks never changes
    what is trained.

    Order within one iteration: `on_step` after each env step (for every env), then
    the algorithm's update, then `on_iteration`, then `continue_training` (whose
    context carries the state `on_iteration` just returned). Training stops after the
    iteration in which any callback's `continue_training` returned False.

    Two optional hooks have defaults that do nothing: `update_env` lets a callback
    change the environment trained on (curricula), `log_values` lets it report
    scalars with the algorithm's training metrics.
    """

    @abc.abstractmethod
    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> StateType:
        """Create the per-run state.

        Args:
            ctx: The environment, initial policy and run budget.
            key: PRNG key from the callbacks' stream.

        Returns:
            The initial per-run state.
        """

    @abc.abstractmethod
    def step_reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> StepStateType:
        """Create the step state of ONE env (called under `vmap` over envs).

        Args:
            ctx: The environment, initial policy and run budget.
            key: PRNG key for this env.

        Returns:
            The initial step state of one env.
        """

    @abc.abstractmethod
    def on_step(self, ctx: StepContext, *, key: Key[Array, ""]) -> StepStateType:
        """Called after every environment step, for ONE env (under `vmap` over envs).

        Args:
            ctx: The transition and this env's current step state.
            key: PRNG key for this env and step.

        Returns:
            The new step state of this env.
        """

    @abc.abstractmethod
    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> StateType:
        """Called after each iteration's update.

        Args:
            ctx: Counters, the updated policy, optimizer state, training metrics and
                this callback's states.
            key: PRNG key.

        Returns:
            The new per-run state.
        """

    @abc.abstractmethod
    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> StateType:
        """Called once when `train` (or `learn`) starts, before the first iteration.

        Returns:
            The new per-run state.
        """

    @abc.abstractmethod
    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> StateType:
        """Called once when `train` (or `learn`) ends, after the last iteration ran
        (whether the budget was spent or a callback stopped training).

        Returns:
            The new per-run state.
        """

    @abc.abstractmethod
    def continue_training(self, ctx: IterationContext, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        """Whether training should go on after this iteration.

        Args:
            ctx: The iteration context, with `state` set to what this iteration's
                `on_iteration` returned.
            key: PRNG key.

        Returns:
            A scalar boolean array; False stops training after this iteration.
        """

    def update_env(self, env: AbstractEnv, state: StateType) -> AbstractEnv:
        """The environment to train on next, given this callback's per-run state.

        The driver calls it at the start of `train` (and `learn`), after
        `on_training_start`, and after every iteration, with the state that
        iteration's `on_iteration` returned; the env it returns is stored in the
        `TrainState` and used by every env (`num_envs`) from the next iteration on.
        Callbacks run in list order, each receiving the env the previous one returned.

        The env is carried through the compiled loop, so only array VALUES may change:
        the returned env must have the same structure, shapes and dtypes. The default
        returns `env` unchanged.

        Args:
            env: The current environment.
            state: This callback's per-run state.

        Returns:
            The environment for the next iteration.
        """
        return env

    def log_values(self, state: StateType) -> dict[str, Array]:
        """Scalars to report with the algorithm's training metrics.

        Called once per iteration, before `on_iteration`, with this callback's per-run
        state as the previous iteration left it; the entries are merged into
        `IterationContext.training_log` (so `LoggingCallback` logs them as
        `train/<key>`). Keys must not collide with other callbacks' keys, and values
        should be finite (`NaNGuard` checks them). The default reports nothing.

        Args:
            state: This callback's per-run state.

        Returns:
            A flat dict of scalar arrays.
        """
        return {}

    def host_receivers(self, run: dict[str, Any]) -> dict[str, Callable[[Any, np.ndarray], None]]:
        """The host-side receivers this callback sends to, keyed by channel name.

        `learn` and `train` register them (`lerax.host.register`) before the compiled
        program runs, so a cached program always reaches the receivers of the callback
        objects passed to THIS call. Callbacks that never cross return `{}`.

        Args:
            run: Facts about the run known on the host: `algorithm` (class name),
                `env` (env name), `total_timesteps`, `num_envs`, `hyperparameters`
                (the static ones, as Python values) and `callback` (its config).
        """
        return {}

    def config(self) -> dict[str, Any]:
        """The callback's configuration as a JSON-friendly dict (for logs and checkpoints)."""
        out: dict[str, Any] = {"type": type(self).__name__}
        for name, value in _public_fields(self):
            out[name] = _jsonable(value)
        return out


def _public_fields(module: eqx.Module):
    for field in dataclasses.fields(module):
        if not field.name.startswith("_"):
            yield field.name, getattr(module, field.name)


def _jsonable(value: Any) -> Any:
    if isinstance(value, AbstractCallback):
        return value.config()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return repr(value)
    if array.dtype == object:
        return repr(value)
    return array.tolist()
