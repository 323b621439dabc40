"""Partial callback bases that implement the hooks a subclass does not need."""

from __future__ import annotations

from typing import Generic

import jax.numpy as jnp
from jaxtyping import Array, Bool, Key

from ._abstract import AbstractCallback, StateType, StepStateType
from ._context import IterationContext, ResetContext, StepContext, TrainingContext
from ._state import EmptyCallbackState, EmptyCallbackStepState


class AbstractStatelessCallback(AbstractCallback[EmptyCallbackState, EmptyCallbackStepState]):
    """A callback without state: every hook is a no-op until a subclass implements it.

    A subclass implements only the hooks it uses (for example `on_iteration` to emit
    something, or `continue_training` to stop on a condition of the context alone).
    """

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> EmptyCallbackState:
        return EmptyCallbackState()

    def step_reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> EmptyCallbackStepState:
        return EmptyCallbackStepState()

    def on_step(self, ctx: StepContext, *, key: Key[Array, ""]) -> EmptyCallbackStepState:
        return ctx.state

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> EmptyCallbackState:
        return ctx.state

    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> EmptyCallbackState:
        return ctx.state

    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> EmptyCallbackState:
        return ctx.state

    def continue_training(self, ctx: IterationContext, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        return jnp.asarray(True)


class AbstractStepCallback(
    AbstractCallback[EmptyCallbackState, StepStateType], Generic[StepStateType]
):
    """A callback with per-env step state only: implement `step_reset` and `on_step`."""

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> EmptyCallbackState:
        return EmptyCallbackState()

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> EmptyCallbackState:
        return ctx.state

    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> EmptyCallbackState:
        return ctx.state

    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> EmptyCallbackState:
        return ctx.state

    def continue_training(self, ctx: IterationContext, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        return jnp.asarray(True)


class AbstractIterationCallback(
    AbstractCallback[StateType, EmptyCallbackStepState], Generic[StateType]
):
    """A callback with per-run state updated each iteration: implement `reset` and
    `on_iteration` (and `continue_training` to stop training; it continues by default)."""

    def step_reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> EmptyCallbackStepState:
        return EmptyCallbackStepState()

    def on_step(self, ctx: StepContext, *, key: Key[Array, ""]) -> EmptyCallbackStepState:
        return ctx.state

    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> StateType:
        return ctx.state

    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> StateType:
        return ctx.state

    def continue_training(self, ctx: IterationContext, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        return jnp.asarray(True)


class AbstractTrainingCallback(
    AbstractCallback[StateType, EmptyCallbackStepState], Generic[StateType]
):
    """A callback acting at the start and end of training: implement `reset`,
    `on_training_start` and `on_training_end`."""

    def step_reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> EmptyCallbackStepState:
        return EmptyCallbackStepState()

    def on_step(self, ctx: StepContext, *, key: Key[Array, ""]) -> EmptyCallbackStepState:
        return ctx.state

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> StateType:
        return ctx.state

    def continue_training(self, ctx: IterationContext, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        return jnp.asarray(True)
