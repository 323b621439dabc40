"""`EarlyStopping`: stop once the episodic return reached a target several times in a row."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int, Key

from lerax import host
from lerax._checks import as_scalar_array, check_int

from .._context import IterationContext, ResetContext
from .._state import AbstractCallbackState
from ._common import (
    AbstractStoppingCallback,
    StopReason,
    StopRecord,
    iteration_mean_return,
    show_scalar,
)
from ._report import StopPrinter


class EarlyStoppingState(AbstractCallbackState):
    """Per-run state of `EarlyStopping`.

    Attributes:
        streak: Consecutive measured iterations whose mean return reached the target.
        last_mean_return: The last measured mean return (NaN before any).
        stopped: Whether the rule held (training stops after `stop_iteration`).
        stop_iteration: The iteration after which training stopped (-1 if it did not).
        reason: A `StopReason` code (`TARGET_REACHED` once stopped, else `NONE`).
        ack: Host acknowledgements (keeps crossings in program order).
    """

    streak: Int[Array, ""]
    last_mean_return: Float[Array, ""]
    stopped: Bool[Array, ""]
    stop_iteration: Int[Array, ""]
    reason: Int[Array, ""]
    ack: Int[Array, ""]


class EarlyStopping(AbstractStoppingCallback[EarlyStoppingState]):
    """Stop training when the episodic return reaches `target` `patience` times in a row.

    "In a row" with vectorised envs: the rule is evaluated once per iteration on
    the mean return of the episodes that finished during that iteration, over all
    envs. An iteration whose mean is `>= target` extends the streak, one below it
    resets the streak to 0, and an iteration in which no episode finished neither
    counts nor resets it. Training stops after the iteration at which the streak
    reaches `patience`. (Episodes that end at the same step in different envs have
    no order, so the iteration is the smallest unit with a well-defined sequence; a
    single env with one episode per iteration gives velora's per-episode rule.)

    Used as a child of `EvalCallback`, the measured value is instead the mean return
    of the evaluations it runs on (all of them as `callback_after_eval`, the new
    bests as `callback_on_new_best`), and the streak counts consecutive ones.

    When it triggers it prints one line on the host. The decision is sticky: a
    later `train` call on the stopped state stops again after one iteration.

    Args:
        target: The episodic return to reach: a float, or a scalar array (it may be
            traced, e.g. vmapped over).
        patience: How many measured iterations in a row must reach it (static int
            >= 1).

    Raises:
        TypeError: if `target` is not a real scalar or `patience` not an int.
        ValueError: if `target` is NaN or `patience < 1`.
    """

    target: Float[Array, ""]
    patience: int = eqx.field(static=True)

    def __init__(self, target: Float[ArrayLike, ""], *, patience: int = 3):
        self.target = as_scalar_array("EarlyStopping", "target", target)
        check_int("EarlyStopping", "patience", patience)
        self.patience = patience

    _channel = "lerax.EarlyStopping"

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> EarlyStoppingState:
        zero = jnp.zeros((), jnp.int32)
        return EarlyStoppingState(
            streak=zero,
            last_mean_return=jnp.asarray(jnp.nan, jnp.float32),
            stopped=jnp.asarray(False),
            stop_iteration=zero - 1,
            reason=jnp.int32(StopReason.NONE) + zero,
            ack=zero,
        )

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> EarlyStoppingState:
        s = ctx.state
        mean, measured = iteration_mean_return(ctx)
        reached = mean >= self.target
        streak = jnp.where(measured, jnp.where(reached, s.streak + 1, 0), s.streak)
        record = StopRecord.of(s).update(
            streak >= self.patience, ctx.iteration_count, StopReason.TARGET_REACHED
        )
        payload = {
            "iteration": ctx.iteration_count,
            "timesteps": ctx.num_timesteps,
            "mean_return": mean,
            "target": self.target,
            "patience": jnp.int32(self.patience),
        }
        ack = host.send(self._channel, payload, due=record.new)
        return EarlyStoppingState(
            streak=streak,
            last_mean_return=jnp.where(measured, mean, s.last_mean_return),
            stopped=record.stopped,
            stop_iteration=record.stop_iteration,
            reason=record.reason,
            ack=s.ack + ack,
        )

    def host_receivers(self, run: dict[str, Any]) -> dict[str, Any]:
        return {self._channel: StopPrinter("EarlyStopping", _describe)}

    def __repr__(self) -> str:
        return f"EarlyStopping(target={show_scalar(self.target)}, patience={self.patience})"


def _describe(row) -> str:
    return (
        f"mean episode return {float(row['mean_return']):.2f} >= target "
        f"{float(row['target']):.2f} {int(row['patience'])} times in a row"
    )
