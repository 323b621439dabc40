"""Partial callback bases that implement the hooks a subclass does not need.

Two layers, both abstract (never instantiated):

* capability bases, each implementing ONE group of hooks as a no-op
  (`AbstractWithoutRunState`, `AbstractWithoutStepState`,
  `AbstractWithoutIterationHook`, `AbstractWithoutTrainingStart`,
  `AbstractWithoutTrainingEnd`, `AbstractNeverStopping`). A callback combines the
  ones it needs and implements every other hook itself, so it never overrides a
  concrete hook;
* the four documented partial bases, each a combination of capability bases
  (`AbstractStatelessCallback`, `AbstractStepCallback`, `AbstractIterationCallback`,
  `AbstractTrainingCallback`).
"""

from __future__ import annotations

from typing import Generic

import jax.numpy as jnp
from jaxtyping import Array, Bool, Key

from ._abstract import AbstractCallback, StateType, StepStateType
from ._context import IterationContext, ResetContext, StepContext, TrainingContext
from ._state import EmptyCallbackState, EmptyCallbackStepState

# ---------------------------------------------------------------- capability bases


class AbstractWithoutRunState(
    AbstractCallback[EmptyCallbackState, StepStateType], Generic[StepStateType]
):
    """Implements `reset`: the callback has no per-run state (`EmptyCallbackState`)."""

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> EmptyCallbackState:
        return EmptyCallbackState()


class AbstractWithoutStepState(
    AbstractCallback[StateType, EmptyCallbackStepState], Generic[StateType]
):
    """Implements `step_reset` and `on_step`: the callback has no per-env step state
    and does nothing per env step."""

    def step_reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> EmptyCallbackStepState:
        return EmptyCallbackStepState()

    def on_step(self, ctx: StepContext, *, key: Key[Array, ""]) -> EmptyCallbackStepState:
        return ctx.state


class AbstractWithoutIterationHook(AbstractCallback[StateType, StepStateType]):
    """Implements `on_iteration` as a no-op (the per-run state is kept)."""

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> StateType:
        return ctx.state


class AbstractWithoutTrainingStart(AbstractCallback[StateType, StepStateType]):
    """Implements `on_training_start` as a no-op (the per-run state is kept)."""

    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> StateType:
        return ctx.state


class AbstractWithoutTrainingEnd(AbstractCallback[StateType, StepStateType]):
    """Implements `on_training_end` as a no-op (the per-run state is kept)."""

    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> StateType:
        return ctx.state


class AbstractNeverStopping(AbstractCallback[StateType, StepStateType]):
    """Implements `continue_training`: the callback never stops training."""

    def continue_training(self, ctx: IterationContext, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        return jnp.asarray(True)


# ---------------------------------------------------------------- documented partial bases


class AbstractStatelessCallback(
    AbstractWithoutRunState[EmptyCallbackStepState],
    AbstractWithoutStepState[EmptyCallbackState],
    AbstractWithoutIterationHook[EmptyCallbackState, EmptyCallbackStepState],
    AbstractWithoutTrainingStart[EmptyCallbackState, EmptyCallbackStepState],
    AbstractWithoutTrainingEnd[EmptyCallbackState, EmptyCallbackStepState],
    AbstractNeverStopping[EmptyCallbackState, EmptyCallbackStepState],
):
    """A callback without state: every hook is a no-op until a subclass implements it.

    A subclass implements only the hooks it uses (for example `on_iteration` to emit
    something, or `continue_training` to stop on a condition of the context alone).
    """


class AbstractStepCallback(
    AbstractWithoutRunState[StepStateType],
    AbstractWithoutIterationHook[EmptyCallbackState, StepStateType],
    AbstractWithoutTrainingStart[EmptyCallbackState, StepStateType],
    AbstractWithoutTrainingEnd[EmptyCallbackState, StepStateType],
    AbstractNeverStopping[EmptyCallbackState, StepStateType],
    Generic[StepStateType],
):
    """A callback with per-env step state only: implement `step_reset` and `on_step`."""


class AbstractIterationCallback(
    AbstractWithoutStepState[StateType],
    AbstractWithoutTrainingStart[StateType, EmptyCallbackStepState],
    AbstractWithoutTrainingEnd[StateType, EmptyCallbackStepState],
    AbstractNeverStopping[StateType, EmptyCallbackStepState],
    Generic[StateType],
):
    """A callback with per-run state updated each iteration: implement `reset` and
    `on_iteration` (and `continue_training` to stop training; it continues by default)."""


class AbstractTrainingCallback(
    AbstractWithoutStepState[StateType],
    AbstractWithoutIterationHook[StateType, EmptyCallbackStepState],
    AbstractNeverStopping[StateType, EmptyCallbackStepState],
    Generic[StateType],
):
    """A callback acting at the start and end of training: implement `reset`,
    `on_training_start` and `on_training_end`."""
