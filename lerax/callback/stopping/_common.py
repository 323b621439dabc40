"""Shared device-side pieces of the stopping callbacks: their partial base, the measured
return, the stop record and reason codes. The host report of a stop is in `_report.py`."""

from __future__ import annotations

import enum
from typing import Generic

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, Key

from .._abstract import StateType
from .._context import IterationContext
from .._partial import (
    AbstractWithoutStepState,
    AbstractWithoutTrainingEnd,
    AbstractWithoutTrainingStart,
)
from .._state import EmptyCallbackStepState


class StopReason(enum.IntEnum):
    """Why a stopping callback stopped training (the `reason` field of its state)."""

    NONE = 0
    TARGET_REACHED = 1
    NO_IMPROVEMENT = 2
    MAX_EPISODES = 3
    NON_FINITE = 4


def iteration_mean_return(
    ctx: IterationContext,
) -> tuple[Float[Array, ""], Bool[Array, ""]]:
    """The return a stopping rule measures at this iteration.

    Normally the mean return of the episodes that finished (in any env) during the
    iteration that just completed, from the driver's `ctx.episodes`. Inside
    `EvalCallback` (as one of its child callbacks) the evaluation's mean return
    instead.

    Returns:
        `(mean_return, measured)`: `measured` is False when no episode finished (the
        mean is then NaN).
    """
    if ctx.evaluation is not None:
        return jnp.asarray(ctx.evaluation.mean_return, jnp.float32), jnp.asarray(True)
    count = jnp.sum(ctx.episodes.count)
    total = jnp.sum(ctx.episodes.return_sum)
    measured = count > 0
    return jnp.where(measured, total / jnp.maximum(count, 1), jnp.nan), measured


class StopRecord(eqx.Module):
    """The stop decision of a stopping rule, as its state records it.

    Attributes:
        stopped: Whether the rule held (training stops after `stop_iteration`).
        stop_iteration: The iteration after which training stopped (-1 if it did not).
        reason: A `StopReason` code (`NONE` until the rule held).
        new: Whether the rule held for the first time at this iteration.
    """

    stopped: Bool[Array, ""]
    stop_iteration: Int[Array, ""]
    reason: Int[Array, ""]
    new: Bool[Array, ""]

    @classmethod
    def of(cls, state) -> StopRecord:
        """The record kept in `state` (its `stopped`, `stop_iteration` and `reason`)."""
        return cls(state.stopped, state.stop_iteration, state.reason, jnp.asarray(False))

    def update(
        self, holds: Bool[Array, ""], iteration: Int[Array, ""], code: StopReason
    ) -> StopRecord:
        """The record after an iteration at which the rule `holds` (or not); the first
        time it holds sets `stop_iteration` and `reason`. The decision is sticky."""
        new = holds & ~self.stopped
        return StopRecord(
            stopped=self.stopped | holds,
            stop_iteration=jnp.where(new, iteration, self.stop_iteration),
            reason=jnp.where(new, jnp.int32(code), self.reason),
            new=new,
        )


def show_scalar(value: Array) -> str:
    """A scalar array for a `__repr__` (`<traced>` while tracing)."""
    if isinstance(value, jax.core.Tracer):
        return "<traced>"
    return f"{value.item():g}"


class AbstractStoppingCallback(
    AbstractWithoutStepState[StateType],
    AbstractWithoutTrainingStart[StateType, EmptyCallbackStepState],
    AbstractWithoutTrainingEnd[StateType, EmptyCallbackStepState],
    Generic[StateType],
):
    """A stopping rule judged once per iteration (no per-step work).

    Subclasses implement `reset` and `on_iteration`; their state has a `stopped`
    flag (kept with `StopRecord`), which `continue_training` reads. The other hooks
    are no-ops. Rules on the episodes read the driver's `IterationContext.episodes`
    (`iteration_mean_return`).
    """

    def continue_training(self, ctx: IterationContext, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        return ~ctx.state.stopped


AbstractEpisodeStoppingCallback = AbstractStoppingCallback
"""The former name of `AbstractStoppingCallback`."""
