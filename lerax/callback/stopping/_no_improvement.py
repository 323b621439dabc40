"""`StopOnNoImprovement`: stop when the best mean episodic return stops improving."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, Key

from lerax import host
from lerax._checks import check_int

from .._context import IterationContext, ResetContext
from .._state import AbstractCallbackState
from ._common import (
    AbstractStoppingCallback,
    StopReason,
    StopRecord,
    iteration_mean_return,
)
from ._report import StopPrinter


class StopOnNoImprovementState(AbstractCallbackState):
    """Per-run state of `StopOnNoImprovement`.

    Attributes:
        best_mean_return: Best mean return of any evaluation so far (-inf before any).
        best_iteration: The iteration it was measured at (-1 before any).
        since_best: Consecutive counted evaluations without improvement.
        evaluations: Evaluations (iterations with finished episodes) so far.
        stopped: Whether the rule held (training stops after `stop_iteration`).
        stop_iteration: The iteration after which training stopped (-1 if it did not).
        reason: A `StopReason` code (`NO_IMPROVEMENT` once stopped, else `NONE`).
        ack: Host acknowledgements (keeps crossings in program order).
    """

    best_mean_return: Float[Array, ""]
    best_iteration: Int[Array, ""]
    since_best: Int[Array, ""]
    evaluations: Int[Array, ""]
    stopped: Bool[Array, ""]
    stop_iteration: Int[Array, ""]
    reason: Int[Array, ""]
    ack: Int[Array, ""]


class StopOnNoImprovement(AbstractStoppingCallback[StopOnNoImprovementState]):
    """Stop training when the best mean episodic return has not improved for `patience`
    consecutive evaluations after `min_iterations`.

    An evaluation is an iteration in which at least one episode finished (in any
    env); its value is the mean return of those episodes. An evaluation improves when
    its value is strictly above the best value of all previous evaluations (the first
    one always does). Every improvement resets the count of non-improving
    evaluations to 0; a non-improving evaluation adds 1 to it only if it happened
    after `min_iterations` iterations (`iteration_count > min_iterations`).
    Training stops after the evaluation at which the count reaches `patience`.

    Used as a child of `EvalCallback` (SB3's `callback_after_eval`), the evaluations
    are the `EvalCallback`'s evaluations instead.

    When it triggers it prints one line on the host. The decision is sticky.

    Args:
        patience: Non-improving evaluations that stop training (static int >= 1).
        min_iterations: Iterations before which non-improving evaluations are not
            counted (static int >= 0).

    Raises:
        TypeError: if an argument is not an int.
        ValueError: if `patience < 1` or `min_iterations < 0`.
    """

    patience: int = eqx.field(static=True)
    min_iterations: int = eqx.field(static=True, default=0)

    def __check_init__(self):
        check_int("StopOnNoImprovement", "patience", self.patience)
        check_int("StopOnNoImprovement", "min_iterations", self.min_iterations, minimum=0)

    _channel = "lerax.StopOnNoImprovement"

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> StopOnNoImprovementState:
        zero = jnp.zeros((), jnp.int32)
        return StopOnNoImprovementState(
            best_mean_return=jnp.asarray(-jnp.inf, jnp.float32),
            best_iteration=zero - 1,
            since_best=zero,
            evaluations=zero,
            stopped=jnp.asarray(False),
            stop_iteration=zero - 1,
            reason=zero + jnp.int32(StopReason.NONE),
            ack=zero,
        )

    def on_iteration(
        self, ctx: IterationContext, *, key: Key[Array, ""]
    ) -> StopOnNoImprovementState:
        s = ctx.state
        mean, measured = iteration_mean_return(ctx)
        improved = measured & (mean > s.best_mean_return)
        counted = measured & ~improved & (ctx.iteration_count > self.min_iterations)
        since_best = jnp.where(improved, 0, s.since_best + counted.astype(jnp.int32))
        record = StopRecord.of(s).update(
            since_best >= self.patience, ctx.iteration_count, StopReason.NO_IMPROVEMENT
        )
        best = jnp.where(improved, mean, s.best_mean_return)
        best_iteration = jnp.where(improved, ctx.iteration_count, s.best_iteration)
        payload = {
            "iteration": ctx.iteration_count,
            "timesteps": ctx.num_timesteps,
            "best": best,
            "best_iteration": best_iteration,
            "patience": jnp.int32(self.patience),
        }
        ack = host.send(self._channel, payload, due=record.new)
        return StopOnNoImprovementState(
            best_mean_return=best,
            best_iteration=best_iteration,
            since_best=since_best,
            evaluations=s.evaluations + measured.astype(jnp.int32),
            stopped=record.stopped,
            stop_iteration=record.stop_iteration,
            reason=record.reason,
            ack=s.ack + ack,
        )

    def host_receivers(self, run: dict[str, Any]) -> dict[str, Any]:
        return {self._channel: StopPrinter("StopOnNoImprovement", _describe)}

    def __repr__(self) -> str:
        return (
            f"StopOnNoImprovement(patience={self.patience}, min_iterations={self.min_iterations})"
        )


def _describe(row) -> str:
    return (
        f"best mean episode return {float(row['best']):.2f} (iteration "
        f"{int(row['best_iteration'])}) not improved for {int(row['patience'])} evaluations"
    )
