"""Shared pieces of the stopping callbacks: per-iteration episode accounting, stop
reason codes, the host report of a stop, argument checks."""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable
from typing import Generic

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, Key

from ._abstract import AbstractCallback, StateType
from ._context import IterationContext, ResetContext, StepContext, TrainingContext
from ._state import EmptyCallbackStepState

EVAL_MEAN_RETURN = "eval/mean_return"
"""Key under which `EvalCallback` passes its evaluation's mean return to its children
(in `IterationContext.training_log`)."""


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
    if EVAL_MEAN_RETURN in ctx.training_log:
        mean = jnp.asarray(ctx.training_log[EVAL_MEAN_RETURN], jnp.float32)
        return mean, jnp.asarray(True)
    count = jnp.sum(ctx.episodes.count)
    total = jnp.sum(ctx.episodes.return_sum)
    measured = count > 0
    return jnp.where(measured, total / jnp.maximum(count, 1), jnp.nan), measured


def stop_fields(
    stopped: Bool[Array, ""],
    stop_iteration: Int[Array, ""],
    reason: Int[Array, ""],
    holds: Bool[Array, ""],
    iteration: Int[Array, ""],
    code: StopReason,
) -> tuple[Bool[Array, ""], Int[Array, ""], Int[Array, ""], Bool[Array, ""]]:
    """Update the `(stopped, stop_iteration, reason)` record when a rule `holds`.

    Returns:
        The new `(stopped, stop_iteration, reason)` and whether the stop is new.
    """
    new = holds & ~stopped
    return (
        stopped | holds,
        jnp.where(new, iteration, stop_iteration),
        jnp.where(new, jnp.int32(code), reason),
        new,
    )


class StopPrinter:
    """Host receiver printing one line per stopped member.

    Args:
        name: The callback's name, starting the line.
        describe: Maps one row (dict of numpy scalars) to the message.
    """

    def __init__(self, name: str, describe: Callable[[dict[str, np.ndarray]], str]):
        self.name = name
        self.describe = describe

    def __call__(self, rows: dict[str, np.ndarray], index: np.ndarray) -> None:
        for r in range(index.shape[0]):
            row = {k: np.asarray(v)[r] for k, v in rows.items()}
            print(
                f"{member_prefix(index, r)}{self.name}: {self.describe(row)}; training stops "
                f"after iteration {int(row['iteration'])} ({int(row['timesteps'])} steps).",
                file=sys.stdout,
                flush=True,
            )


def as_scalar_array(owner: str, name: str, value: object, *, integer: bool = False) -> Array:
    """Check and convert a sweepable scalar argument (a number or a scalar array).

    Concrete values are checked (not NaN; `>= 1` for integers); traced ones (built
    under the user's `vmap`) are taken as they are.

    Raises:
        TypeError: if `value` is not a real scalar (an integer one when `integer`).
        ValueError: if it is NaN, or an integer below 1.
    """
    kind = "an int >= 1 or an integer scalar array" if integer else "a real number or scalar array"
    bad = TypeError(f"{owner}: `{name}` must be {kind}, got {value!r}.")
    if isinstance(value, (bool, np.bool_)) or isinstance(value, (str, bytes)):
        raise bad
    try:
        array = jnp.asarray(value)
    except (TypeError, ValueError):
        raise bad from None
    ok = jnp.issubdtype(array.dtype, jnp.integer) or (
        not integer and jnp.issubdtype(array.dtype, jnp.floating)
    )
    if array.shape != () or not ok:
        raise bad
    if not isinstance(array, jax.core.Tracer):
        if not integer and bool(jnp.isnan(array)):
            raise ValueError(f"{owner}: `{name}` must not be NaN.")
        if integer and int(array) < 1:
            raise ValueError(f"{owner}: `{name}` must be {kind}, got {int(array)}.")
    return array.astype(jnp.int32 if integer else jnp.float32)


def show_scalar(value: Array) -> str:
    """A scalar array for a `__repr__` (`<traced>` while tracing)."""
    if isinstance(value, jax.core.Tracer):
        return "<traced>"
    return f"{value.item():g}"


def check_int(owner: str, name: str, value: object, *, low: int = 1) -> None:
    """Raise unless `value` is an int (not a bool) `>= low`.

    Raises:
        TypeError: if it is not an int.
        ValueError: if it is below `low`.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner}: `{name}` must be an int >= {low}, got {value!r}.")
    if value < low:
        raise ValueError(f"{owner}: `{name}` must be an int >= {low}, got {value}.")


def member_prefix(index: np.ndarray, row: int) -> str:
    """`"[i] "` (`"[i/j] "` for nested vmaps) naming the member of a host row; empty
    for a plain run."""
    return "" if index.shape[1] == 0 else f"[{'/'.join(map(str, index[row]))}] "


class AbstractEpisodeStoppingCallback(
    AbstractCallback[StateType, EmptyCallbackStepState], Generic[StateType]
):
    """A stopping rule judged on the episodes finished each iteration (the driver's
    `IterationContext.episodes`: no per-step work).

    Subclasses implement `reset` and `on_iteration`; their state has a `stopped`
    flag, which `continue_training` reads. The other hooks are no-ops.
    """

    def step_reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> EmptyCallbackStepState:
        return EmptyCallbackStepState()

    def on_step(self, ctx: StepContext, *, key: Key[Array, ""]) -> EmptyCallbackStepState:
        return ctx.state

    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> StateType:
        return ctx.state

    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> StateType:
        return ctx.state

    def continue_training(self, ctx: IterationContext, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        return ~ctx.state.stopped
